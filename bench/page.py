"""docs/benchmarks.md: the method, kept as written, then the latest run's table.

The page holds no history: each full run replaces everything after the results
marker, so the page always shows one run. How the figures changed over time is
in the commit messages of the runs.
"""

import datetime
import subprocess
from pathlib import Path

from .harness import ROOT, Figure, machine

MARKER = "<!-- results -->"
HEADER = ["| figure | value | reference | ratio | target | ok |", "|---|---|---|---|---|---|"]


def method_of(page: str) -> str:
    """The part of the page above the results, which the runs never change."""
    if MARKER not in page:
        raise ValueError(f"the benchmarks page has no {MARKER} line to put the results after")
    return page.split(MARKER, 1)[0].rstrip() + "\n\n"


def table(figures: list[Figure]) -> list[str]:
    rows = list(HEADER)
    for f in figures:
        ref = "" if f.reference is None else f.reference
        ratio = "" if f.ratio is None else f.ratio
        ok = {True: "yes", False: "**no**", None: "–"}[f.ok]
        rows.append(f"| {f.name} | {f.value} {f.unit} | {ref} | {ratio} | {f.target} | {ok} |")
    return rows


def render(method: str, figures: list[Figure], run: str, host: str) -> str:
    """The whole page: ``method``, then one run (``run`` names it) and its table."""
    return method + "\n".join([MARKER, run, f"Machine: {host}.", "", *table(figures), ""])


def run_line(quick: bool, commit: str, day: datetime.date) -> str:
    command = "python -m bench --quick" if quick else "python -m bench"
    return (
        f"Run: {day.isoformat()}, commit {commit}, {'quick' if quick else 'full'} run, `{command}`."
    )


def write(figures: list[Figure], quick: bool, path: Path) -> None:
    """Replace the page's results with this run's."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    run = run_line(quick, commit, datetime.date.today())
    path.write_text(render(method_of(path.read_text()), figures, run, machine()))
