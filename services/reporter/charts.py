"""Line charts drawn as PDF vectors (lines, polylines, polygons): sharp at any zoom, and small."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fpdf import FPDF

from .model import ChartPoint, Period

GRID = (220, 224, 230)
AXIS = (120, 128, 140)
LABEL = (90, 98, 110)
NORMAL_FILL = (226, 242, 232)


@dataclass(frozen=True)
class Line:
    """One metric on a chart: its points, colour, and the lighter colour of its min-max band."""

    label: str
    points: Sequence[ChartPoint]
    color: tuple[int, int, int]
    band: tuple[int, int, int]


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1, 2 or 5 times a power of ten step giving about ``ticks`` intervals."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def value_range(lines: Sequence[Line], normal: tuple[float, float] | None) -> tuple[float, float]:
    lows = [p.low for line in lines for p in line.points]
    highs = [p.high for line in lines for p in line.points]
    if normal:
        lows.append(normal[0])
        highs.append(normal[1])
    low, high = min(lows), max(highs)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    step = nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def segments(points: Sequence[ChartPoint], gap_ms: float) -> list[list[ChartPoint]]:
    """Split where readings stop for longer than ``gap_ms``, so no line bridges an outage."""
    out: list[list[ChartPoint]] = []
    for point in points:
        if not out or point.time_ms - out[-1][-1].time_ms > gap_ms:
            out.append([])
        out[-1].append(point)
    return out


def time_ticks(period: Period, tz) -> list[tuple[datetime, str]]:
    """Tick times and labels: hours for a day or two, days for a month, weeks beyond."""
    days = period.days
    start = period.start.astimezone(tz)
    if days <= 2.01:
        step, fmt = timedelta(hours=6 if days > 1.01 else 3), "%H:%M"
        first = start.replace(minute=0, second=0, microsecond=0)
    else:
        step = timedelta(days=max(1, math.ceil(days / 8)))
        fmt = "%d %b"
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks = []
    moment = first
    while moment <= period.end:
        if moment >= period.start:
            ticks.append((moment, moment.strftime(fmt)))
        # wall-clock steps in local time, so ticks stay on midnight across DST changes
        moment = (moment.replace(tzinfo=None) + step).replace(tzinfo=tz)
    return ticks


@dataclass(frozen=True)
class Plot:
    """A chart's plotting area in mm and the times and values it spans."""

    x: float
    y: float
    w: float
    h: float
    t0: float
    t1: float
    low: float
    high: float

    def sx(self, t: float) -> float:
        return self.x + (t - self.t0) / (self.t1 - self.t0) * self.w

    def sy(self, v: float) -> float:
        return self.y + self.h - (v - self.low) / (self.high - self.low) * self.h


def draw(
    pdf: FPDF,
    x: float,
    y: float,
    w: float,
    h: float,
    period: Period,
    lines: Sequence[Line],
    unit: str,
    normal: tuple[float, float] | None,
    tz=UTC,
) -> None:
    """Draw a framed chart at (x, y), size w x h mm, with value and time axes."""
    label_w, label_h = 12.0, 5.0
    has_data = any(line.points for line in lines)
    low, high = value_range(lines, normal) if has_data else (0.0, 1.0)
    t0, t1 = period.start.timestamp() * 1000, period.end.timestamp() * 1000
    plot = Plot(x + label_w, y + 2, w - label_w - 2, h - label_h - 2, t0, t1, low, high)
    pdf.set_line_width(0.15)
    pdf.set_font(size=6.5)
    pdf.set_text_color(*LABEL)
    if has_data:
        _value_axis(pdf, plot, normal)
    _time_axis(pdf, plot, period, tz, right=x + w)
    pdf.set_draw_color(*AXIS)
    pdf.rect(plot.x, plot.y, plot.w, plot.h)
    if not has_data:
        pdf.set_font(size=8)
        message = "no plausible readings in this period"
        mid_x = plot.x + (plot.w - pdf.get_string_width(message)) / 2
        pdf.text(mid_x, plot.y + plot.h / 2, message)
        return
    pdf.text(x, y + 1, unit)
    _lines(pdf, plot, lines)


def _value_axis(pdf: FPDF, plot: Plot, normal: tuple[float, float] | None) -> None:
    """The usual range as a band, and a grid line with its value every nice step."""
    if normal:
        lo, hi = max(normal[0], plot.low), min(normal[1], plot.high)
        pdf.set_fill_color(*NORMAL_FILL)
        pdf.rect(plot.x, plot.sy(hi), plot.w, plot.sy(lo) - plot.sy(hi), style="F")
    step = nice_step(plot.high - plot.low)
    tick = plot.low
    while tick <= plot.high + step / 1000:
        pdf.set_draw_color(*GRID)
        pdf.line(plot.x, plot.sy(tick), plot.x + plot.w, plot.sy(tick))
        text = f"{tick:g}"
        pdf.text(plot.x - 1.2 - pdf.get_string_width(text), plot.sy(tick) + 1.1, text)
        tick += step


def _time_axis(pdf: FPDF, plot: Plot, period: Period, tz, right: float) -> None:
    for moment, text in time_ticks(period, tz):
        tx = plot.sx(moment.timestamp() * 1000)
        pdf.set_draw_color(*GRID)
        pdf.line(tx, plot.y, tx, plot.y + plot.h)
        if tx + pdf.get_string_width(text) / 2 <= right:
            pdf.text(tx - pdf.get_string_width(text) / 2, plot.y + plot.h + 3.6, text)


def _lines(pdf: FPDF, plot: Plot, lines: Sequence[Line]) -> None:
    """Each line's min-max band, then its means; a gap in the data breaks the line."""
    sx, sy = plot.sx, plot.sy
    gap = max((plot.t1 - plot.t0) / 60, 1)
    for line in lines:
        steps = [b.time_ms - a.time_ms for a, b in zip(line.points, line.points[1:], strict=False)]
        if steps:
            gap = max(gap, 2.5 * min(steps))
    for line in lines:
        for part in segments(line.points, gap):
            if len(part) > 1 and any(p.high > p.low for p in part):
                band = [(sx(p.time_ms), sy(p.high)) for p in part]
                band += [(sx(p.time_ms), sy(p.low)) for p in reversed(part)]
                pdf.set_fill_color(*line.band)
                pdf.polygon(band, style="F")
    pdf.set_line_width(0.45)
    for line in lines:
        pdf.set_draw_color(*line.color)
        pdf.set_fill_color(*line.color)
        for part in segments(line.points, gap):
            if len(part) == 1:
                # a lone bucket: its min-max as a whisker, so the spread is not hidden
                p = part[0]
                pdf.line(sx(p.time_ms), sy(p.low), sx(p.time_ms), sy(p.high))
                pdf.circle(sx(p.time_ms), sy(p.mean), 0.7, style="F")
            else:
                pdf.polyline([(sx(p.time_ms), sy(p.mean)) for p in part])
    pdf.set_line_width(0.2)


def bars(
    pdf: FPDF,
    x: float,
    y: float,
    w: float,
    h: float,
    period: Period,
    values: Sequence[tuple[int, int]],
    alert_level: int,
    tz=UTC,
) -> None:
    """One bar per day (``(day start ms, value)``), red at or above ``alert_level``."""
    label_w, label_h = 12.0, 5.0
    px, py, pw, ph = x + label_w, y + 1, w - label_w - 2, h - label_h - 1
    top = max(alert_level + 1, max(v for _, v in values), 1)
    t0, t1 = period.start.timestamp() * 1000, period.end.timestamp() * 1000
    day_w = pw * 86_400_000 / (t1 - t0)
    pdf.set_font(size=6.5)
    pdf.set_text_color(*LABEL)
    pdf.set_line_width(0.15)
    for tick in range(0, top + 1, max(1, top // 4)):
        ty = py + ph - tick / top * ph
        pdf.set_draw_color(*GRID)
        pdf.line(px, ty, px + pw, ty)
        pdf.text(px - 1.2 - pdf.get_string_width(str(tick)), ty + 1.1, str(tick))
    for day_ms, value in values:
        bx = px + (day_ms - t0) / (t1 - t0) * pw
        bh = value / top * ph
        pdf.set_fill_color(*((200, 55, 70) if value >= alert_level else (120, 150, 190)))
        if bh > 0:
            pdf.rect(bx + day_w * 0.15, py + ph - bh, day_w * 0.7, bh, style="F")
    for moment, text in time_ticks(period, tz):
        tx = px + (moment.timestamp() * 1000 - t0) / (t1 - t0) * pw
        if tx + pdf.get_string_width(text) / 2 <= x + w:
            pdf.text(tx - pdf.get_string_width(text) / 2, py + ph + 3.6, text)
    limit_y = py + ph - alert_level / top * ph
    pdf.set_draw_color(200, 55, 70)
    pdf.set_dash_pattern(dash=1, gap=1)
    pdf.line(px, limit_y, px + pw, limit_y)
    pdf.set_dash_pattern()
    pdf.set_draw_color(*AXIS)
    pdf.rect(px, py, pw, ph)
    pdf.set_line_width(0.2)
