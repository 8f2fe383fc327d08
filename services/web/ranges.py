"""The time range a chart or a download asks for: day, week, month, or custom dates."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from .errors import ValidationError

RANGES = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


def parse(args: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    """``range`` is day, week, month, or custom with ``start``/``end`` (ISO dates or times)."""
    choice = args.get("range", "day")
    if choice in RANGES:
        return now - RANGES[choice], now
    if choice != "custom":
        raise ValidationError("range is day, week, month or custom")
    try:
        start = datetime.fromisoformat(args["start"])
        end = datetime.fromisoformat(args["end"])
    except (KeyError, ValueError) as exc:
        raise ValidationError("custom ranges need start and end as ISO dates") from exc
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    try:
        if len(args["end"]) == 10:  # a bare date means the whole of that day
            end += timedelta(days=1)
        for moment in (start, end):
            moment.astimezone(UTC)  # must exist in UTC too
    except OverflowError as exc:
        raise ValidationError("custom ranges must fall between the years 1 and 9999") from exc
    if not start < end or end - start > timedelta(days=366):
        raise ValidationError("start must be before end, at most a year apart")
    return start, end
