"""``python -m bench [--quick] [--only NAME | NAME ...]``: run figures, print JSON, write the table.

Each figure is measured against a reference in the same run on the same machine,
because absolute times on a shared machine drift. Nothing here is a test: the
test suite has no timing assertions.
"""

import argparse
import sys
from pathlib import Path

from . import dashboard, failover, gateway, notifier, page, pipeline, reports
from .harness import ROOT, Figure

FIGURES = {
    "throughput": gateway.throughput,
    "connections": gateway.connections,
    "latency": gateway.latency,
    "recorder": pipeline.recorder,
    "images": pipeline.images,
    "dashboard": dashboard.month_chart,
    "reports": reports.reports,
    "notifier": notifier.notifier,
    "failover": failover.failover,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller runs, under a minute")
    parser.add_argument(
        "--only", choices=sorted(FIGURES), action="append", help="run these; prints, no table"
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="the same as --only NAME")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"no figure {', '.join(unknown)}; choose from {', '.join(sorted(FIGURES))}")
    args.only = (args.only or []) + args.names or None
    figures: list[Figure] = []
    for name in args.only or FIGURES:
        result = FIGURES[name](args.quick)
        for figure in result if isinstance(result, list) else [result]:
            print(figure.line(), flush=True)
            figures.append(figure)
    if not args.only:  # a partial run must not replace the whole table
        page.write(figures, args.quick, Path(args.out))
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
