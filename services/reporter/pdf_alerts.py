"""The report's alerts section: the partial early-warning score and the alert events."""

from fpdf.enums import XPos, YPos

from . import charts
from .model import Report
from .pdfpage import FONT, MUTED, ReportPDF


def alerts_section(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Alerts and early-warning score")
    score_block(pdf, report)
    pdf.ln(2)
    alert_list(pdf, report)


def score_block(pdf: ReportPDF, report: Report) -> None:
    score = report.score
    pdf.subheading("Partial early-warning score")
    pdf.para(
        "PARTIAL score, not clinically validated: NEWS2 bands for heart rate, SpO2 and "
        "temperature only. Respiration rate, blood pressure as NEWS2 scores it, "
        "consciousness and supplemental oxygen are not measured, so it can only "
        "under-estimate the real score.",
        size=8,
        color=MUTED,
    )
    if score is None:
        pdf.no_data("Partial early-warning score")
    else:
        pdf.grid(
            [
                "Computed",
                "Highest",
                "Highest at",
                "Mean",
                "Latest",
                f"At or above {score.alert_level}",
            ],
            [
                [
                    str(score.scores),
                    str(score.maximum),
                    pdf.when(score.maximum_ms),
                    f"{score.mean:.1f}",
                    str(score.latest),
                    str(score.at_or_above_alert),
                ]
            ],
            [24, 20, 42, 20, 20, 54],
            align=["RIGHT", "RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT"],
        )
        if len(score.daily_max) > 1:
            pdf.set_font(FONT, "", 8)
            pdf.cell(0, 5, "Highest partial score per day", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            y = pdf.get_y()
            charts.bars(
                pdf,
                pdf.l_margin,
                y,
                pdf.epw,
                30,
                report.period,
                score.daily_max,
                score.alert_level,
                pdf.tz,
            )
            pdf.set_y(y + 32)


def alert_list(pdf: ReportPDF, report: Report) -> None:
    pdf.subheading("Alerts")
    if not report.alerts:
        pdf.no_data("Alerts")
        return
    shown = len(report.alerts)
    pdf.para(
        f"{report.alert_total} alert events in the period"
        + (f"; the {shown} newest are listed." if shown < report.alert_total else "."),
        size=8.5,
    )
    pdf.grid(
        ["Time", "Device", "Level", "What"],
        [[pdf.when(a.time_ms), a.device, a.level, a.text] for a in report.alerts],
        [32, 20, 18, 108],
        emphasis=[a.level == "critical" for a in report.alerts],
    )
