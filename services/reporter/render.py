"""The PDF health report: fpdf2, an embedded Unicode TrueType font, charts as vectors."""

from .medication_section import medication_section
from .model import Report
from .pdf_alerts import alerts_section
from .pdf_record import habits_section, record_sections
from .pdf_vitals import title_block, vitals_section
from .pdfpage import ReportPDF
from .settings import Settings


def render(settings: Settings, report: Report) -> bytes:
    """The report as PDF bytes."""
    pdf = ReportPDF(settings, report)
    pdf.add_page()
    title_block(pdf, report)
    vitals_section(pdf, report)
    alerts_section(pdf, report)
    record_sections(pdf, report)
    habits_section(pdf, report)
    medication_section(pdf, report)
    return bytes(pdf.output())
