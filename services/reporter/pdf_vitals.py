"""The report's first pages: who and when, the vital signs table and a chart per group."""

from fpdf.enums import XPos, YPos

from services.common.metrics import BY_KEY, GROUP_BY_KEY, range_text

from . import charts
from .model import VITALS, Report
from .pdfpage import BRAND, FONT, INK, MUTED, ReportPDF

# The report's chart order, by dashboard group (services/common/metrics.py), with each
# metric's line colour and the lighter colour of its band.
COLORS = {
    "heart_rate": ((200, 55, 70), (246, 214, 218)),
    "temperature": ((230, 120, 20), (250, 226, 200)),
    "spo2": ((30, 100, 190), (208, 224, 246)),
    "bp_systolic": ((110, 60, 170), (226, 214, 242)),
    "bp_diastolic": ((22, 120, 110), (204, 234, 229)),
}
CHART_ORDER = ("heart_rate", "temperature", "spo2", "bp")


def number(metric: str, value: float | None) -> str:
    return BY_KEY[metric].format(value)


def title_block(pdf: ReportPDF, report: Report) -> None:
    pdf.set_font(FONT, "B", 20)
    pdf.set_text_color(*BRAND)
    pdf.cell(0, 11, "Health report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    patient = report.patient
    days = round(report.period.days, 2)
    facts = [
        ("Patient", f"{patient.display_name} ({patient.username})"),
        (
            "Period",
            f"{pdf.period_text()} ({days:g} day{'' if days == 1 else 's'}, {report.timezone})",
        ),
        ("Devices", ", ".join(patient.devices) or "none assigned"),
        ("Requested by", report.requested_by),
        ("Generated", report.generated.astimezone(pdf.tz).strftime("%d %b %Y %H:%M %Z")),
    ]
    for label, value in facts:
        pdf.set_font(FONT, "B", 9.5)
        pdf.cell(32, 5.6, label)
        pdf.set_font(FONT, "", 9.5)
        pdf.multi_cell(0, 5.6, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def vitals_section(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Vital signs")
    if not any(v.count or v.flagged for v in report.vitals):
        pdf.no_data("Vital signs")
        return
    rows = []
    for v in report.vitals:
        label, unit, low, high = VITALS[v.metric]
        share = v.in_range_share
        rows.append(
            [
                label,
                unit,
                str(v.count),
                number(v.metric, v.minimum),
                "–" if v.mean is None else f"{v.mean:.1f}",
                number(v.metric, v.maximum),
                range_text(low, high),
                "–" if share is None else f"{share * 100:.0f} %",
                str(v.flagged),
            ]
        )
    pdf.grid(
        ["Vital sign", "Unit", "Count", "Min", "Mean", "Max", "Normal", "In range", "Left out"],
        rows,
        [44, 13, 16, 13, 14, 13, 19, 16, 15],
        align=["LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "CENTER", "RIGHT", "RIGHT"],
    )
    pdf.para(
        "Min, mean and max cover plausible readings only. 'Left out' counts readings flagged "
        "as physically implausible (e.g. a 0 bpm pulse from a loose sensor); they are kept "
        "in the raw data but take no part in summaries, charts or alerts. 'Normal' is a usual "
        "adult resting range, for orientation only.",
        size=7.5,
        color=MUTED,
    )
    for key in CHART_ORDER:
        group = GROUP_BY_KEY[key]
        parts = [(m.key, *COLORS[m.key]) for m in group.metrics]
        chart_block(pdf, group.title, parts, report)


def chart_block(pdf: ReportPDF, title: str, parts, report: Report) -> None:
    height = 46
    if pdf.will_page_break(height + 8):
        pdf.add_page()
    pdf.set_font(FONT, "B", 9.5)
    pdf.set_text_color(*INK)  # charts.draw leaves its grey label colour set
    pdf.cell(0, 6, title)
    legend_x = pdf.w - pdf.r_margin
    pdf.set_font(FONT, "", 7.5)
    for metric, color, _ in reversed(parts):
        text = VITALS[metric][0].split(", ")[-1] if len(parts) > 1 else "mean"
        legend_x -= pdf.get_string_width(text) + 9
        pdf.set_draw_color(*color)
        pdf.set_line_width(0.8)
        pdf.line(legend_x, pdf.get_y() + 3, legend_x + 5, pdf.get_y() + 3)
        pdf.set_line_width(0.2)
        pdf.text(legend_x + 6, pdf.get_y() + 4, text)
    pdf.ln(6)
    lines = [
        charts.Line(VITALS[m][0], report.charts.get(m, ()), color, band) for m, color, band in parts
    ]
    first = VITALS[parts[0][0]]
    normal = (first[2], first[3]) if len(parts) == 1 else None
    y = pdf.get_y()
    charts.draw(
        pdf, pdf.l_margin, y, pdf.epw, height, report.period, lines, first[1], normal, pdf.tz
    )
    pdf.set_y(y + height + 2)
    pdf.set_font(FONT, "", 10)
