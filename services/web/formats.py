"""How every page writes a date or a time: one format, ``1 Dec 2026`` and ``1 Dec 2026, 14:05``.

The pages' Jinja filters (``day``, ``when``, ``period``) and the flash messages come
from here, in the person's own time zone (``preferences``); the browser's script writes
live times the same way (``app.js``).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None):
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def date_text(day: date) -> str:
    """``1 Dec 2026``: day without a leading zero, month's short name, year."""
    return f"{day.day} {day:%b %Y}"


def day(ts_s: int | None, tz: str | None = None) -> str:
    """A Unix-seconds time as its date in ``tz``: ``1 Dec 2026`` (``–`` when there is none)."""
    if ts_s is None:
        return "–"
    return date_text(datetime.fromtimestamp(ts_s, UTC).astimezone(zone(tz)).date())


def when(ts_ms: int | None, tz: str | None = None, seconds: bool = True) -> str:
    """A reading's moment in ``tz``: ``1 Dec 2026, 14:05:09`` (``never`` when there is none)."""
    if ts_ms is None:
        return "never"
    moment = datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(zone(tz))
    clock = f"{moment:%H:%M:%S}" if seconds else f"{moment:%H:%M}"
    return f"{date_text(moment.date())}, {clock}"


def clock(ts_s: int, tz: str | None = None) -> str:
    """Only the time of day, ``14:20``: the end of a span whose start gives the date."""
    return f"{datetime.fromtimestamp(ts_s, UTC).astimezone(zone(tz)):%H:%M}"


def when_iso(text: str | None, tz: str | None = None) -> str:
    """An ISO time (as a report's ``created``) in the one format, to the minute."""
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return "–"
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return when(int(moment.timestamp() * 1000), tz, seconds=False)


def period(start: str | None, end: str | None) -> str:
    """A report's ``[start, end)`` (ISO times) as the days it covers: ``25 Nov – 1 Dec 2026``.

    The end is exclusive: a week made on 1 Dec ends at 2 Dec 00:00, and its last day is
    1 Dec. The days are those of the report's own time zone (the offset it carries).
    """
    try:
        first = datetime.fromisoformat(start or "")
        after = datetime.fromisoformat(end or "")
    except ValueError:
        return "–"
    first_day = first.date()
    last_day = max((after - timedelta(microseconds=1)).date(), first_day)
    if first_day == last_day:
        return date_text(first_day)
    if first_day.year == last_day.year:
        return f"{first_day.day} {first_day:%b} – {date_text(last_day)}"
    return f"{date_text(first_day)} – {date_text(last_day)}"
