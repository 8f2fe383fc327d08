"""The PDF health report: fpdf2, an embedded Unicode TrueType font, charts as vectors."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from services.common.metrics import BY_KEY, GROUP_BY_KEY, range_text

from . import charts
from .medication_section import medication_section
from .model import VITALS, Report
from .settings import Settings

INK = (33, 37, 41)
MUTED = (108, 117, 125)
BRAND = (31, 58, 95)
ACCENT = (22, 120, 110)
WARN = (176, 42, 55)
HEAD_FILL = (233, 238, 245)
ZEBRA = (247, 249, 251)
WARN_FILL = (253, 236, 238)
FONT = "DejaVu"
NO_DATA = "No data recorded."
GRID_SIZE = 8.5  # table text, pt
GRID_LINE = 5  # table line height, mm
GRID_PAD_X, GRID_PAD_Y = 1.5, 0.8  # table cell padding, mm
# multi_cell() handles these itself even in text that fits on one line: it breaks lines
# at \n and \f, and drops \r and soft hyphens, which cell() and text() would print
LINE_CONTROL = frozenset("\n\r\f\u00ad")

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


@dataclass(frozen=True)
class GridRow:
    """A table row's text and look; the rules are horizontal lines above and below it."""

    cells: Sequence[str]
    style: str
    color: tuple[int, int, int]
    fill: tuple[int, int, int]
    top: bool
    bottom: bool


class ReportPDF(FPDF):
    """A4 pages with the report's header and a numbered footer."""

    def __init__(self, settings: Settings, report: Report) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report = report
        self.tz = ZoneInfo(report.timezone)
        self.add_font(FONT, "", str(settings.font))
        self.add_font(FONT, "B", str(settings.font_bold))
        fallbacks = []
        for i, path in enumerate(settings.fallback_fonts):
            self.add_font(f"fallback{i}", "", str(path))
            fallbacks.append(f"fallback{i}")
        if fallbacks:
            self.set_fallback_fonts(fallbacks, exact_match=False)
        self.set_font(FONT, size=10)
        self.set_margins(16, 24, 16)
        self.set_auto_page_break(True, margin=18)
        self.set_title(f"Health report: {report.patient.display_name}")
        self.set_author("Health Plus Smart Cabinet")
        self.set_creator("services.reporter")
        self.set_lang("en")
        self.set_creation_date(report.generated.astimezone(UTC))

    def when(self, ms: int, fmt: str = "%d %b %Y %H:%M") -> str:
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime(fmt)

    def header(self) -> None:
        self.set_fill_color(*BRAND)
        self.rect(0, 0, self.w, 14, style="F")
        self.set_xy(self.l_margin, 4)
        self.set_text_color(255, 255, 255)
        self.set_font(FONT, "B", 11)
        self.cell(0, 6, "Health Plus · Health report")
        self.set_font(FONT, "", 9)
        self.set_xy(self.l_margin, 4)
        self.cell(0, 6, f"{self.report.patient.display_name} · {self.period_text()}", align="R")
        self.set_text_color(*INK)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_draw_color(*HEAD_FILL)
        self.line(self.l_margin, self.get_y() - 1, self.w - self.r_margin, self.get_y() - 1)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*MUTED)
        self.cell(
            0,
            5,
            "From home measurements; not a diagnosis. Discuss any concern with your doctor.",
        )
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(*INK)

    def period_text(self) -> str:
        p = self.report.period
        last = datetime.fromtimestamp(p.end.timestamp() - 1, self.tz)
        return f"{p.start.astimezone(self.tz):%d %b %Y} – {last:%d %b %Y}"

    # --- building blocks ---

    def heading(self, title: str, need: float = 40) -> None:
        if self.will_page_break(need):
            self.add_page()
        self.ln(3)
        self.start_section(title)
        self.set_font(FONT, "B", 13)
        self.set_text_color(*BRAND)
        self.cell(0, 8, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.5)
        self.line(self.l_margin, self.get_y(), self.l_margin + 24, self.get_y())
        self.set_line_width(0.2)
        self.ln(2)
        self.set_text_color(*INK)
        self.set_font(FONT, "", 10)

    def subheading(self, title: str, need: float = 30) -> None:
        if self.will_page_break(need):
            self.add_page()
        self.set_font(FONT, "B", 10.5)
        self.set_text_color(*BRAND)
        self.cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*INK)
        self.set_font(FONT, "", 10)

    def para(self, text: str, size: float = 10, bold: bool = False, color=INK) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.set_text_color(*color)
        width = self.w - self.r_margin - self.x
        # line breaking is most of multi_cell()'s time, and short paragraphs need none
        if (
            LINE_CONTROL.isdisjoint(text)
            and self.get_string_width(text) < width - 2 * self.c_margin
        ):
            self.cell(width, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            self.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*INK)
        self.set_font(FONT, "", 10)

    def no_data(self, what: str) -> None:
        self.para(f"{what}: {NO_DATA.lower()}", color=MUTED)

    def grid(
        self,
        head: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        align: Sequence[str] | None = None,
        emphasis: Sequence[bool] | None = None,
    ) -> None:
        """A full-width table whose heading row is repeated on top of every page it spans."""
        # drawn by hand: FPDF.table() lays out every cell twice with multi_cell, which
        # made tables most of the rendering time; widths are shares of the page width
        widths = [w * self.epw / sum(widths) for w in widths]
        align = align or ["LEFT"] * len(widths)
        heading = GridRow(head, "B", BRAND, HEAD_FILL, top=False, bottom=bool(rows))
        body = []
        for i, cells in enumerate(rows):
            if emphasis and emphasis[i]:
                look = ("B", WARN, WARN_FILL)
            else:
                look = ("", INK, ZEBRA if i % 2 == 0 else (255, 255, 255))
            body.append(GridRow(cells, *look, top=True, bottom=i < len(rows) - 1))
        self.set_draw_color(210, 215, 222)
        head_layout = self.grid_layout(heading, widths)
        layouts = [self.grid_layout(row, widths) for row in body]
        # never a heading alone at the foot of a page
        if self.will_page_break(head_layout[0] + (layouts[0][0] if layouts else 0)):
            self.add_page()
        self.grid_row(heading, head_layout, widths, align)
        for row, layout in zip(body, layouts, strict=True):
            if self.will_page_break(layout[0]):
                self.add_page()
                self.grid_row(heading, head_layout, widths, align)
            self.grid_row(row, layout, widths, align)
        self.set_font(FONT, "", 10)
        self.ln(1)

    def grid_layout(
        self, row: GridRow, widths: Sequence[float]
    ) -> tuple[float, list[tuple[float, float | None]]]:
        """A row's height, and each cell's height and, for text kept on one line, its width."""
        self.set_font(FONT, row.style, GRID_SIZE)
        glyphs = self.current_font.cmap
        cells: list[tuple[float, float | None]] = []
        for text, width in zip(row.cells, widths, strict=True):
            if not text:
                cells.append((0, None))
                continue
            # text() costs a fraction of multi_cell() but does not wrap, use fallback fonts
            # or put in the page count for its alias
            if (
                LINE_CONTROL.isdisjoint(text)
                and self.str_alias_nb_pages not in text
                and all(ord(c) in glyphs for c in text)
            ):
                text_width = self.get_string_width(text)
                if text_width < width - 2 * GRID_PAD_X:
                    cells.append((GRID_LINE + 2 * GRID_PAD_Y, text_width))
                    continue
            height = self.multi_cell(
                width,
                GRID_LINE,
                text,
                padding=(GRID_PAD_Y, GRID_PAD_X),
                dry_run=True,
                output=MethodReturnValue.HEIGHT,
            )
            cells.append((height, None))
        # a row of empty cells is one unpadded line high, as in FPDF.table()
        return max(height for height, _ in cells) or GRID_LINE, cells

    def grid_row(
        self,
        row: GridRow,
        layout: tuple[float, list[tuple[float, float | None]]],
        widths: Sequence[float],
        align: Sequence[str],
    ) -> None:
        """One table row at the current position: fill, rules, then text centred vertically."""
        height, cells = layout
        x, y = self.l_margin, self.get_y()
        self.set_fill_color(*row.fill)
        self.rect(x, y, self.epw, height, style="F")
        if row.top:
            self.line(x, y, x + self.epw, y)
        if row.bottom:
            self.line(x, y + height, x + self.epw, y + height)
        self.set_font(FONT, row.style, GRID_SIZE)
        self.set_text_color(*row.color)
        # the baseline cell() would give one line centred in the row
        baseline = y + height / 2 + 0.3 * self.font_size
        for text, width, cell_align, (cell_height, text_width) in zip(
            row.cells, widths, align, cells, strict=True
        ):
            if text_width is not None:
                offset = {
                    "LEFT": GRID_PAD_X,
                    "CENTER": (width - text_width) / 2,
                    "RIGHT": width - GRID_PAD_X - text_width,
                }[cell_align]
                self.text(x + offset, baseline, text)
            elif text:
                self.set_xy(x, y + (height - cell_height) / 2)
                self.multi_cell(
                    width,
                    GRID_LINE,
                    text,
                    align=cell_align,
                    padding=(GRID_PAD_Y, GRID_PAD_X),
                    new_x=XPos.RIGHT,
                    new_y=YPos.TOP,
                )
            x += width
        self.set_text_color(*INK)
        self.set_xy(self.l_margin, y + height)


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


def alerts_section(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Alerts and early-warning score")
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
    pdf.ln(2)
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
        [[pdf.when(a.time_ms), a.device, a.level, a.message] for a in report.alerts],
        [32, 20, 18, 108],
        emphasis=[a.level == "critical" for a in report.alerts],
    )


def record_sections(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Blood test results")
    if not report.blood_tests:
        pdf.no_data("Blood test results")
    else:
        tests = report.blood_tests
        pdf.grid(
            ["Test", "Result", "Unit", "Reference range", "Flag", "Taken"],
            [
                [
                    t.test,
                    f"{t.value:g}",
                    t.unit,
                    range_text(t.ref_low, t.ref_high),
                    t.flag,
                    pdf.when(t.taken_ms, "%d %b %Y"),
                ]
                for t in tests
            ],
            [44, 18, 28, 34, 22, 32],
            align=["LEFT", "RIGHT", "LEFT", "CENTER", "CENTER", "LEFT"],
            emphasis=[t.flag in ("low", "high") for t in tests],
        )
    pdf.heading("Doctor's advice")
    if not report.advice:
        pdf.no_data("Doctor's advice")
    for advice in report.advice or ():
        pdf.para(advice.area, size=10, bold=True, color=BRAND)
        pdf.para(advice.text, size=9.5)
        who = f"{advice.doctor}, " if advice.doctor else ""
        pdf.para(f"{who}{pdf.when(advice.updated_ms, '%d %b %Y')}", size=7.5, color=MUTED)
        pdf.ln(1.5)
    pdf.heading("Doctor's note", need=25)
    if not report.notes:
        pdf.no_data("Doctor's note")
    for note in report.notes or ():
        pdf.para(note.text, size=9.5)
        who = f"{note.doctor}, " if note.doctor else ""
        pdf.para(f"{who}{pdf.when(note.created_ms)}", size=7.5, color=MUTED)
        pdf.ln(1.5)
    pdf.heading("Questionnaire")
    if not report.questionnaire:
        pdf.no_data("Questionnaire")
    for answer in report.questionnaire or ():
        pdf.para(answer.question, size=9.5, bold=True)
        pdf.para(answer.answer, size=9.5)
        pdf.para(f"answered {pdf.when(answer.answered_ms, '%d %b %Y')}", size=7.5, color=MUTED)
        pdf.ln(1)


def habits_section(pdf: ReportPDF, report: Report) -> None:
    pdf.heading("Habits")
    if not report.habits:
        pdf.no_data("Habits")
    else:
        pdf.grid(
            ["Habit", "Days recorded", "Average a day", "Total"],
            [
                [h.habit, str(h.days), f"{h.mean:.1f} {h.unit}", f"{h.total:g} {h.unit}"]
                for h in report.habits
            ],
            [70, 30, 40, 38],
            align=["LEFT", "RIGHT", "RIGHT", "RIGHT"],
        )
    pdf.subheading("Snacks taken from the cabinet")
    if not report.snacks:
        pdf.no_data("Snacks taken from the cabinet")
        return
    items = sorted({item for day in report.snacks for item in day.taken})
    rows = [
        [
            pdf.when(day.day_ms, "%a %d %b"),
            *(str(day.taken.get(i, 0)) for i in items),
            str(sum(day.taken.values())),
        ]
        for day in report.snacks
    ]
    totals = [sum(day.taken.get(i, 0) for day in report.snacks) for i in items]
    rows.append(["Total", *map(str, totals), str(sum(totals))])
    width = (pdf.epw - 40) / (len(items) + 1)
    pdf.grid(
        ["Day", *items, "All"],
        rows,
        [40] + [width] * (len(items) + 1),
        align=["LEFT"] + ["RIGHT"] * (len(items) + 1),
        emphasis=[False] * (len(rows) - 1) + [True],
    )


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
