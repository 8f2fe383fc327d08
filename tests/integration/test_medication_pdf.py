"""Medications in the PDF report and the doses export: read from the web's database."""

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from services.common.medication import doses
from services.reporter import render
from services.reporter.model import Patient, Period, Report
from services.reporter.settings import Settings
from services.reporter.webdb import WebDirectory
from tests.support import pdf as pdftools
from tests.support.medication import one_medication
from tests.support.services import ROOT


def test_the_pdf_report_shows_each_medications_adherence(tmp_path):
    conn, _patient, med = one_medication(tmp_path)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    first = int(datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp())
    for day in range(4):
        doses.record_taken(
            conn, med.id, first + day * 86400, "on_time", first + day * 86400, "cabinet"
        )
    doses.record_missed(conn, med.id, first + 4 * 86400)
    conn.close()
    period = Period(start, start + timedelta(days=7))
    with WebDirectory(tmp_path / "web.sqlite3") as directory:
        (adh,) = directory.medications("ann", period, "UTC")
    # the days after the last recorded dose closed without one: missed too
    assert adh.name == "Aspirin 75 mg" and adh.on_time == 4 and adh.scheduled == 7
    assert adh.missed == 3 and round(adh.on_time_pct) == 57
    report = Report(
        Patient("ann", "Ann"),
        period,
        datetime(2026, 1, 12, tzinfo=UTC),
        "patient ann",
        medications=(adh,),
    )
    out = tmp_path / "report.pdf"
    out.write_bytes(render.render(Settings.from_env({}), report))
    text = pdftools.text(out)
    assert "Medications" in text and "Aspirin 75 mg" in text and "57%" in text
    assert "missed: Fri 09 Jan 08:00" in text and "that it was swallowed" in text


def test_the_doses_export_has_one_row_per_scheduled_dose(tmp_path):
    conn, _patient, med = one_medication(tmp_path)
    first = int(datetime(2026, 1, 5, 8, tzinfo=UTC).timestamp())
    doses.record_taken(conn, med.id, first, "on_time", first + 60, "cabinet")
    doses.record_taken(conn, med.id, first + 86400, "late", first + 86400 + 4000, "dashboard")
    conn.close()
    out = tmp_path / "ann.doses.csv"

    def export(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "services.reporter", "export", "--format", "doses", *args],
            cwd=ROOT,
            env={**os.environ, "SMARTCAB_DATA_DIR": str(tmp_path), "REPORT_TIMEZONE": "UTC"},
            capture_output=True,
            text=True,
            timeout=90,
        )

    done = export("--patient", "ann", "--start", "2026-01-05T00:00:00Z",
                  "--end", "2026-01-08T00:00:00Z", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # three days, one dose a day: taken, taken late, and the third with nothing seen
    assert [(r["due_utc"], r["outcome"], r["seen_by"]) for r in rows] == [
        ("2026-01-05T08:00:00+00:00", "on_time", "cabinet"),
        ("2026-01-06T08:00:00+00:00", "late", "dashboard"),
        ("2026-01-07T08:00:00+00:00", "missed", ""),
    ]
    assert {r["medication"] for r in rows} == {"Aspirin 75 mg"} and rows[0][
        "cabinet_item"
    ] == "Aspirin"
    missing = export("--patient", "nobody", "--days", "2", "--out", str(tmp_path / "x.csv"))
    assert missing.returncode == 1 and "no enabled patient" in missing.stdout
