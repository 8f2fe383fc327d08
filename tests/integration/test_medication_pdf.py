"""Medications in the PDF report: adherence read from the web's database, checked as text."""

from datetime import UTC, datetime, timedelta

from services.common.medication import doses
from services.reporter import render
from services.reporter.model import Patient, Period, Report
from services.reporter.settings import Settings
from services.reporter.webdb import WebDirectory
from tests.support import pdf as pdftools
from tests.support.medication import one_medication


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
