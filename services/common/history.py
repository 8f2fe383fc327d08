"""Vitals, alerts and inventory history for the dashboard and reports: InfluxQL and its calls.

The ``*_query`` functions are pure (values in, a ``Query`` out: InfluxQL with
``$name`` placeholders and the values InfluxDB binds to them) so they are easy to
test; the others run them on an ``InfluxClient`` and return plain dataclasses.
Charts, latest values and summaries leave out flagged readings (see
``quality.py``); the raw data sheet shows them, with their reason. docs/schema.md
describes the measurements.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .errors import SmartcabError
from .influx import InfluxClient, Query, quote_ident

MEASUREMENT = "vitals"
ALERTS = "alerts"  # written by the recorder (docs/schema.md)
INVENTORY = "inventory"
PLAUSIBLE_ONLY = '"flagged" = false'

# Bucket sizes a person reads easily; the smallest that keeps a chart under max_points wins.
BUCKETS = (
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    7 * 86400,
)


class TooManyReadings(SmartcabError):
    """A range holds more readings than one export or download may carry."""


@dataclass(frozen=True)
class Subject:
    """Whose readings: one device, one patient (all their devices), or both."""

    device: str | None = None
    patient: str | None = None

    def conditions(self) -> list[str]:
        out = []
        if self.device:
            out.append('"device" = $device')
        if self.patient:
            out.append('"patient" = $patient')
        return out

    def params(self) -> dict[str, str]:
        """The values the conditions' placeholders stand for."""
        out = {}
        if self.device:
            out["device"] = self.device
        if self.patient:
            out["patient"] = self.patient
        return out


def rfc3339(moment: datetime) -> str:
    """A time InfluxQL compares ``time`` with (aware datetimes only: naive ones are ambiguous)."""
    if moment.tzinfo is None:
        raise ValueError("use timezone-aware datetimes")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bucket_seconds(start: datetime, end: datetime, max_points: int = 300) -> int:
    """The GROUP BY time() size for a chart of ``start``..``end`` with at most ``max_points``."""
    span = max((end - start).total_seconds(), 1.0)
    for size in BUCKETS:
        if span / size <= max_points:
            return size
    return BUCKETS[-1]


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{int(seconds)}s"


def _where(
    subject: Subject,
    metric: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    plausible_only: bool = True,
    before_ms: int | None = None,
    through_ms: int | None = None,
) -> tuple[str, dict]:
    """The WHERE clause, its values bound apart; only integers are written in (by int())."""
    conditions = subject.conditions()
    params: dict = subject.params()
    if metric:
        conditions.append('"metric" = $metric')
        params["metric"] = metric
    if plausible_only:
        conditions.append(PLAUSIBLE_ONLY)
    if start:
        conditions.append("time >= $start")
        params["start"] = rfc3339(start)
    if end:
        conditions.append("time < $end")
        params["end"] = rfc3339(end)
    if before_ms is not None:
        conditions.append(f"time < {int(before_ms)}ms")
    if through_ms is not None:
        conditions.append(f"time <= {int(through_ms)}ms")
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


def latest_query(subject: Subject, since: datetime | None = None) -> Query:
    """The newest plausible value of each metric, with its time."""
    where, params = _where(subject, start=since)
    return Query(
        f'SELECT last("value") AS "value" FROM {quote_ident(MEASUREMENT)}{where} GROUP BY "metric"',
        params,
    )


def outside_query(subject: Subject, metric: str, low: float, high: float, since: datetime) -> Query:
    """The newest plausible reading of ``metric`` below ``low`` or above ``high``."""
    where, params = _where(subject, metric, start=since)
    return Query(
        f'SELECT last("value") AS "value" FROM {quote_ident(MEASUREMENT)}'
        f'{where} AND ("value" < $low OR "value" > $high)',
        params | {"low": float(low), "high": float(high)},
    )


def series_query(
    subject: Subject, metric: str, start: datetime, end: datetime, bucket: int | None = None
) -> Query:
    """Mean, min and max of one metric per time bucket, sized to the range."""
    bucket = bucket or bucket_seconds(start, end)
    where, params = _where(subject, metric, start, end)
    return Query(
        'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max" '
        f"FROM {quote_ident(MEASUREMENT)}{where} "
        f"GROUP BY time({_duration(bucket)}) fill(none)",
        params,
    )


def rows_query(
    subject: Subject,
    limit: int = 50,
    before_ms: int | None = None,
    offset: int = 0,
    metric: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    through_ms: int | None = None,
) -> Query:
    """Raw readings, newest first, flagged ones included; page with ``before_ms`` or ``offset``."""
    # The before_ms cursor is exact for one device (the gateway gives each of
    # its readings its own millisecond); for a patient with several devices two
    # readings can share the page's last millisecond: every_row() pages safely.
    if limit < 1:
        raise ValueError("limit must be at least 1")
    where, params = _where(
        subject,
        metric,
        start,
        end,
        plausible_only=False,
        before_ms=before_ms,
        through_ms=through_ms,
    )
    text = (
        'SELECT "value", "metric", "device", "patient", "flagged", "reason" '
        f"FROM {quote_ident(MEASUREMENT)}{where} ORDER BY time DESC LIMIT {int(limit)}"
    )
    if offset:
        text += f" OFFSET {int(offset)}"
    return Query(text, params)


def daily_query(subject: Subject, start: datetime, end: datetime, tz: str | None = None) -> Query:
    """Per day and metric: mean, min, max and count of plausible readings."""
    where, params = _where(subject, start=start, end=end)
    text = (
        'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max", '
        f'count("value") AS "count" FROM {quote_ident(MEASUREMENT)}'
        f'{where} GROUP BY time(1d), "metric" fill(none)'
    )
    if tz:
        text += " tz($tz)"
        params["tz"] = tz
    return Query(text, params)


def alerts_query(
    subject: Subject,
    limit: int,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Query:
    """The newest ``limit`` alert events, optionally of ``[start, end)`` only."""
    where, params = _where(subject, start=start, end=end, plausible_only=False)
    return Query(
        'SELECT "message", "value", "device", "kind", "key", "level" '
        f"FROM {quote_ident(ALERTS)}{where} ORDER BY time DESC LIMIT {int(limit)}",
        params,
    )


def alert_levels_query(subject: Subject, start: datetime, end: datetime) -> Query:
    """How many alert events of each ``level`` fell in ``[start, end)``."""
    where, params = _where(subject, start=start, end=end, plausible_only=False)
    return Query(
        f'SELECT count("message") AS "count" FROM {quote_ident(ALERTS)}{where} GROUP BY "level"',
        params,
    )


def inventory_changes_query(subject: Subject, start: datetime, end: datetime) -> Query:
    """Each change (``diff``) of an item's count between consecutive reports of one cabinet.

    The first report inside the range has nothing to compare with, so a caller that
    wants the change into the range asks from a little earlier.
    """
    where, params = _where(subject, start=start, end=end, plausible_only=False)
    return Query(
        f'SELECT difference("count") AS "diff" FROM {quote_ident(INVENTORY)}'
        f'{where} GROUP BY "device", "item"',
        params,
    )


def first_inventory_query(subject: Subject) -> Query:
    """The oldest inventory report: when the subject's cabinet first counted its items."""
    where, params = _where(subject, plausible_only=False)
    return Query(f'SELECT first("count") AS "count" FROM {quote_ident(INVENTORY)}{where}', params)


@dataclass(frozen=True)
class Latest:
    metric: str
    value: float
    time_ms: int


@dataclass(frozen=True)
class Bucket:
    time_ms: int
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class Reading:
    time_ms: int
    metric: str
    value: float
    device: str
    patient: str | None
    flagged: bool
    reason: str | None


@dataclass(frozen=True)
class Page:
    rows: Sequence[Reading]
    next_before_ms: int | None  # pass as ``before_ms`` for the next (older) page


@dataclass(frozen=True)
class DailySummary:
    day_ms: int
    metric: str
    mean: float
    min: float
    max: float
    count: int


def latest(client: InfluxClient, subject: Subject, since: datetime | None = None) -> dict:
    """``{metric: Latest}`` for the metrics that have a plausible reading."""
    rows = client.query(latest_query(subject, since))
    return {r["metric"]: Latest(r["metric"], r["value"], r["time"]) for r in rows}


def latest_outside(
    client: InfluxClient, subject: Subject, metric: str, low: float, high: float, since: datetime
) -> Latest | None:
    """The newest plausible reading outside ``[low, high]`` since ``since``, or None."""
    rows = client.query(outside_query(subject, metric, low, high, since))
    return Latest(metric, rows[0]["value"], rows[0]["time"]) if rows else None


def series(
    client: InfluxClient,
    subject: Subject,
    metric: str,
    start: datetime,
    end: datetime,
    bucket: int | None = None,
) -> list[Bucket]:
    rows = client.query(series_query(subject, metric, start, end, bucket))
    return [Bucket(r["time"], r["mean"], r["min"], r["max"]) for r in rows]


def _reading(r: dict) -> "Reading":
    return Reading(
        r["time"],
        r["metric"],
        r["value"],
        r["device"],
        r.get("patient"),
        bool(r.get("flagged")),
        r.get("reason"),
    )


def every_row(
    client: InfluxClient,
    subject: Subject,
    start: datetime,
    end: datetime,
    most: int,
    page_size: int = 5000,
) -> list[dict]:
    """Every reading from ``start`` to ``end`` as InfluxDB's rows, newest first.

    Each page after the first starts again at the previous page's last millisecond
    and skips what it already gave, so readings that share a millisecond (a blood
    pressure pair typed in together, two devices) are never lost between pages.
    Raises ``TooManyReadings`` past ``most``: an export that silently stopped short
    would pass for the whole range.
    """
    edge: int | None = None
    given: set[tuple] = set()  # rows already taken at the edge millisecond
    out: list[dict] = []
    while True:
        query = rows_query(subject, limit=page_size, start=start, end=end, through_ms=edge)
        found = client.query(query)
        fresh = [r for r in found if not (r["time"] == edge and _key(r) in given)]
        out += fresh
        if len(out) > most:
            raise TooManyReadings(f"more than {most:,} readings")
        if len(found) < page_size:
            return out
        if not fresh:
            raise TooManyReadings(f"more than {page_size:,} readings in one millisecond")
        last = found[-1]["time"]
        if last != edge:
            given = set()
        edge = last
        given |= {_key(r) for r in fresh if r["time"] == edge}


def every_reading(
    client: InfluxClient,
    subject: Subject,
    start: datetime,
    end: datetime,
    most: int,
    page_size: int = 5000,
) -> list[Reading]:
    """``every_row`` as readings, newest first."""
    return [_reading(r) for r in every_row(client, subject, start, end, most, page_size)]


def _key(r: dict) -> tuple:
    return (r["time"], r["metric"], r["device"], r.get("patient"))


def rows(
    client: InfluxClient,
    subject: Subject,
    limit: int = 50,
    before_ms: int | None = None,
    offset: int = 0,
    metric: str | None = None,
) -> Page:
    found = client.query(rows_query(subject, limit, before_ms, offset, metric))
    readings = [_reading(r) for r in found]
    next_before = readings[-1].time_ms if len(readings) == limit else None
    return Page(readings, next_before)


def daily(
    client: InfluxClient, subject: Subject, start: datetime, end: datetime, tz: str | None = None
) -> list[DailySummary]:
    found = client.query(daily_query(subject, start, end, tz))
    return [
        DailySummary(r["time"], r["metric"], r["mean"], r["min"], r["max"], int(r["count"]))
        for r in found
    ]


def last_days(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``(start, end)`` covering the ``days`` whole UTC days up to and including today."""
    now = now or datetime.now(UTC)
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end += timedelta(days=1)
    return end - timedelta(days=days), end
