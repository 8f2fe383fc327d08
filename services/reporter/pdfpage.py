"""The PDF report's page: fpdf2 with an embedded Unicode font, its header, footer and tables.

The sections (``pdf_vitals``, ``pdf_alerts``, ``pdf_record``) draw onto a ``ReportPDF``
with its helpers; ``render`` puts them together.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from .model import Report
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
