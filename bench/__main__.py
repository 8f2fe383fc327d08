"""``python -m bench [--quick] [--only NAME | NAME ...]``: run figures, print JSON, write the table.

``python -m bench capacity [--steps ...]`` runs the capacity of one box alone: it takes
minutes per step and loads the whole machine, so a full run leaves it out.

Each figure is measured against a reference in the same run on the same machine,
because absolute times on a shared machine drift. Nothing here is a test: the
test suite has no timing assertions.
"""

import argparse
import datetime
import sys
from pathlib import Path

from . import (
    capacity,
    capacity_steps,
    dashboard,
    database,
    failover,
    gateway,
    notifier,
    page,
    pipeline,
    reports,
)
from .harness import ROOT, Figure

FIGURES = {
    "throughput": gateway.throughput,
    "connections": gateway.connections,
    "latency": gateway.latency,
    "recorder": pipeline.recorder,
    "images": pipeline.images,
    "dashboard": dashboard.month_chart,
    "database": database.page_on_postgres,
    "reports": reports.reports,
    "notifier": notifier.notifier,
    "failover": failover.failover,
}
ALONE = ("capacity",)  # run only when named
QUICK_STEPS = "200,500,1000"
FULL_STEPS = "2000,5000,10000,20000,40000,70000,100000"


def until(text: str) -> datetime.datetime:
    """``HH:MM`` (UTC, today, or tomorrow if already past) as an aware datetime."""
    now = datetime.datetime.now(datetime.UTC)
    hour, minute = (int(x) for x in text.split(":"))
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return at if at > now else at + datetime.timedelta(days=1)


def capacity_figures(args: argparse.Namespace) -> list[Figure]:
    steps = args.steps or (QUICK_STEPS if args.quick else FULL_STEPS)
    plan = capacity.Plan(
        steps=capacity_steps.parse_steps(steps),
        interval=args.interval or (10.0 if args.quick else 30.0),
        periods=args.periods,
        deadline=until(args.until) if args.until else None,
        per_gateway=args.per_gateway,
        keep=Path(args.keep) if args.keep else None,
        recorders=args.recorders,
    )
    return capacity.capacity(plan)


def _capacity_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("capacity")
    group.add_argument("--steps", help=f"watches per step (default {FULL_STEPS})")
    group.add_argument("--interval", type=float, help="SCHEDULER_BPM_INTERVAL (default 30)")
    group.add_argument("--periods", type=float, default=2.0, help="hold, in intervals")
    group.add_argument("--until", metavar="HH:MM", help="start no step that ends after (UTC)")
    group.add_argument("--per-gateway", type=int, default=0, help="watches per gateway")
    group.add_argument("--keep", metavar="DIR", help="copy every part's log there at the end")
    group.add_argument("--recorders", type=int, default=1, help="recorders (shared subscription)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller runs, under a minute")
    parser.add_argument(
        "--only",
        choices=sorted([*FIGURES, *ALONE]),
        action="append",
        help="run these; prints, no table",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="the same as --only NAME")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    _capacity_options(parser)
    args = parser.parse_args(argv)
    known = sorted([*FIGURES, *ALONE])
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"no figure {', '.join(unknown)}; choose from {', '.join(known)}")
    args.only = (args.only or []) + args.names or None
    figures: list[Figure] = []
    for name in args.only or FIGURES:
        result = capacity_figures(args) if name in ALONE else FIGURES[name](args.quick)
        for figure in result if isinstance(result, list) else [result]:
            print(figure.line(), flush=True)
            figures.append(figure)
    if not args.only:  # a partial run must not replace the whole table
        page.write(figures, args.quick, Path(args.out))
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
