"""The PDF report's medication section: each medication's adherence over the period."""

from .model import Report

MUTED = (110, 110, 110)
LIMIT = (
    "A dose counts as taken when its item left the cabinet in its window, or the patient"
    " marked it taken: evidence it was taken out, not that it was swallowed."
)
MAX_MISSED_LISTED = 20


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def medication_section(pdf, report: Report) -> None:
    """Doses taken on time out of those scheduled, per medication, and the missed ones."""
    pdf.heading("Medications")
    if not report.medications:
        pdf.para("No medications are listed for this period.", color=MUTED)
        return
    pdf.grid(
        ["Medication", "Scheduled", "On time", "Early", "Late", "Missed", "Twice", "On time %"],
        [
            [
                m.name,
                *(str(n) for n in (m.scheduled, m.on_time, m.early, m.late, m.missed)),
                str(m.doubled),
                _pct(m.on_time_pct),
            ]
            for m in report.medications
        ],
        [52, 20, 18, 16, 16, 18, 16, 22],
        align=["LEFT"] + ["RIGHT"] * 7,
    )
    for med in report.medications:
        if med.missed_ms:
            shown = ", ".join(
                pdf.when(ms, "%a %d %b %H:%M") for ms in med.missed_ms[:MAX_MISSED_LISTED]
            )
            more = len(med.missed_ms) - MAX_MISSED_LISTED
            extra = f" and {more} more" if more > 0 else ""
            pdf.para(f"{med.name}, missed: {shown}{extra}", size=9)
    pdf.para(LIMIT, size=7.5, color=MUTED)
