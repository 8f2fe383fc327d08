"""A report rendered to PDF, read back with poppler's tools."""

from datetime import UTC, datetime

from services.reporter import render
from services.reporter.model import Patient, Period, Report
from services.reporter.settings import Settings
from tests.support import pdf as pdftools

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


def test_a_report_without_data_says_so_in_every_section(tmp_path):
    period = Period(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    report = Report(Patient("bob", "Борис Петров"), period, NOW, "patient bob")
    out = tmp_path / "empty.pdf"
    out.write_bytes(render.render(Settings.from_env({}), report))
    text = pdftools.text(out)
    assert "Борис Петров (bob)" in text and "16 Nov 2026 – 22 Nov 2026" in text
    for section in (
        "Vital signs",
        "Partial early-warning score",
        "Alerts",
        "Blood test results",
        "Doctor's advice",
        "Doctor's note",
        "Questionnaire",
        "Habits",
        "Snacks taken from the cabinet",
    ):
        assert f"{section}: no data recorded." in text, section
    assert "Page 1 of" in text
