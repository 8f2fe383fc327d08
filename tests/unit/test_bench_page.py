"""The benchmarks page keeps its method and one run's table, however often it is rewritten."""

import datetime
import re
from pathlib import Path

from bench import page
from bench.harness import Figure

PAGE = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def figures(value: float) -> list[Figure]:
    return [
        Figure("gateway readings per second", value, "readings/s", 10000, 1.2, ">= 0.5", True),
        Figure("raw copy", 0.5, "ms", 0.04, 0.09, "(no target)", None),
    ]


def results_of(text: str) -> list[str]:
    return text.split(page.MARKER, 1)[1].strip("\n").splitlines()


def test_a_run_replaces_the_previous_table_and_keeps_the_method():
    method = page.method_of(PAGE.read_text())
    run = page.run_line(False, "abc1234", datetime.date(2026, 12, 1))
    first = page.render(method, figures(12000), run, "Linux x86_64, 2 cores")
    second = page.render(page.method_of(first), figures(13000), run, "Linux x86_64, 2 cores")
    assert second.startswith(method) and second.count(page.MARKER) == 1
    assert "12000" not in second and "| gateway readings per second | 13000 readings/s |" in second
    assert results_of(second)[:3] == [
        "Run: 2026-12-01, commit abc1234, full run, `python -m bench`.",
        "Machine: Linux x86_64, 2 cores.",
        "",
    ]
    assert len(results_of(second)) == 3 + len(page.HEADER) + 2


def test_the_page_holds_the_method_and_one_run_only():
    text = PAGE.read_text()
    assert text.count(page.MARKER) == 1
    method = page.method_of(text)
    assert "Run:" not in method and not re.search(r"\bcommit [0-9a-f]{7}", method)
    run, host, blank, *rows = results_of(text)
    assert run.startswith("Run: ") and host.startswith("Machine: ") and blank == ""
    assert rows[: len(page.HEADER)] == page.HEADER
    assert rows and all(row.startswith("| ") for row in rows[len(page.HEADER) :])
