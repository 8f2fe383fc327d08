"""The web's view of the vitals history, over the pipeline's ``services.common.history``.

Every InfluxQL statement comes from that module (the reporter uses the same
alert and inventory queries); this one shapes the rows for the pages.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from services.common import history, metrics
from services.common.influx import (
    InfluxClient,
    InfluxError,
    InfluxSettings,
    InfluxUnavailable,
)

from .errors import DataUnavailable, RangeTooLarge

METRICS = metrics.keys()
# Readings of one device this close together are one row of the data sheet
# (the watch sends heart rate and temperature a few milliseconds apart).
ROW_JOIN_MS = 5000
CSV_MAX_ROWS = 400_000  # about 70 days of a watch read every 30 s


def _reading(r: history.Reading) -> dict:
    return {
        "ts": r.time_ms,
        "value": r.value,
        "flagged": r.flagged,
        "reason": r.reason,
        "device": r.device,
    }


def _group(readings: list[history.Reading]) -> list[tuple[dict, int]]:
    """Newest-first readings joined into (row, oldest reading's time) pairs.

    A row is one device's near-simultaneous metrics. Two watches reporting at the same
    moment interleave their readings; each still joins its own device's row instead of
    starting a new, mostly empty one every time the device changes.
    """
    out: list[tuple[dict, int]] = []
    newest: dict[str, int] = {}  # device -> index of its newest row in ``out``
    for r in readings:
        i = newest.get(r.device)
        row = out[i][0] if i is not None else None
        if row is None or row["ts"] - r.time_ms > ROW_JOIN_MS or r.metric in row:
            row = {"ts": r.time_ms, "device": r.device, "flagged": False}
            out.append((row, r.time_ms))
            i = newest[r.device] = len(out) - 1
        row[r.metric] = r.value
        row["flagged"] = row["flagged"] or r.flagged
        out[i] = (row, r.time_ms)
    return out


def sheet_rows(readings: list[history.Reading]) -> list[dict]:
    """Newest-first readings joined into rows of one device's near-simultaneous metrics."""
    return [row for row, _ in _group(readings)]


class HealthData:
    """Queries for one patient at a time; each call maps Influx failures to DataUnavailable."""

    def __init__(self, settings: InfluxSettings) -> None:
        self._client = InfluxClient(settings)

    def close(self) -> None:
        self._client.close()

    def _run(self, fn, *args, **kwargs):
        try:
            return fn(self._client, *args, **kwargs)
        except InfluxUnavailable as exc:
            raise DataUnavailable("the history database does not answer") from exc
        except InfluxError as exc:
            raise DataUnavailable("the history database refused the query") from exc

    def latest(self, patient: str) -> dict[str, dict]:
        """The newest reading of each metric, flagged or not (cards mark flagged ones)."""
        subject = history.Subject(patient=patient)
        out = {}
        for metric in METRICS:
            page = self._run(history.rows, subject, limit=1, metric=metric)
            if page.rows:
                out[metric] = _reading(page.rows[0])
        return out

    def latest_outside(
        self, patient: str, metric: str, low: float, high: float, since: datetime
    ) -> dict | None:
        """The newest plausible reading outside ``[low, high]`` since ``since``: ts and value."""
        subject = history.Subject(patient=patient)
        found = self._run(history.latest_outside, subject, metric, low, high, since)
        return None if found is None else {"ts": found.time_ms, "value": found.value}

    def near(self, patient: str, metric: str, ts_ms: int, within_ms: int) -> dict | None:
        """The reading of ``metric`` closest before ``ts_ms + within_ms``, if that close."""
        subject = history.Subject(patient=patient)
        page = self._run(history.rows, subject, 1, ts_ms + within_ms + 1, 0, metric)
        if page.rows and abs(page.rows[0].time_ms - ts_ms) <= within_ms:
            return _reading(page.rows[0])
        return None

    def recent(self, patient: str, metric: str, limit: int) -> list[dict]:
        page = self._run(history.rows, history.Subject(patient=patient), limit=limit, metric=metric)
        return [_reading(r) for r in page.rows]

    def series(self, patient: str, metrics: list[str], start: datetime, end: datetime) -> dict:
        """Bucketed mean/min/max per metric, plausible readings only."""
        subject = history.Subject(patient=patient)
        bucket = history.bucket_seconds(start, end)
        found = {}
        for metric in metrics:
            buckets = self._run(history.series, subject, metric, start, end, bucket)
            # InfluxQL labels a bucket by its start; draw it at its middle.
            half = bucket * 500
            found[metric] = [
                {"t": b.time_ms + half, "mean": b.mean, "min": b.min, "max": b.max} for b in buckets
            ]
        return {
            "start": int(start.timestamp() * 1000),
            "end": int(end.timestamp() * 1000),
            "interval_ms": bucket * 1000,
            "metrics": found,
        }

    def sheet(
        self, patient: str, before_ms: int | None, size: int
    ) -> tuple[list[dict], int | None]:
        """``size`` data-sheet rows and the cursor of the next (older) page, None at the end."""
        # A row holds at most one reading of each of the five metrics, so this many
        # readings always make more than ``size`` whole rows when there are that many.
        page = self._run(
            history.rows,
            history.Subject(patient=patient),
            limit=size * len(METRICS) + len(METRICS),
            before_ms=before_ms,
        )
        groups = _group(list(page.rows))
        if page.next_before_ms is None and len(groups) <= size:
            return [row for row, _ in groups], None
        # The next page holds the readings before the cursor: the oldest reading of this
        # page's rows. A row of another device that reaches back to that moment or
        # later (readings interleaved, or at the same millisecond) goes on this page,
        # not nowhere.
        cut = min(size, len(groups))
        cursor = min(oldest for _, oldest in groups[:cut])
        while cut < len(groups) and groups[cut][0]["ts"] >= cursor:
            cursor = min(cursor, groups[cut][1])
            cut += 1
        return [row for row, _ in groups[:cut]], cursor

    def sheet_range(self, patient: str, start: datetime, end: datetime) -> Iterator[dict]:
        """Every row between ``start`` and ``end``, newest first, for the CSV download."""
        subject = history.Subject(patient=patient)
        try:
            readings = self._run(history.every_reading, subject, start, end, most=CSV_MAX_ROWS)
        except history.TooManyReadings as exc:
            raise RangeTooLarge(f"This range holds {exc}; choose a shorter one.") from exc
        return iter(sheet_rows(readings))

    def alerts(self, patient: str, limit: int) -> list[dict]:
        query = history.alerts_query(history.Subject(patient=patient), limit)
        rows = self._run(InfluxClient.query, query)
        return [
            {
                "ts_ms": r["time"],
                "message": r.get("message"),
                "value": r.get("value"),
                "device": r.get("device"),
                "kind": r.get("kind"),
                "key": r.get("key"),
                "level": r.get("level"),
            }
            for r in rows
        ]

    def inventory_changes(self, patient: str, start: datetime, end: datetime) -> list[dict]:
        """Each change of an item's count in the patient's cabinets, oldest first."""
        # DIFFERENCE() compares consecutive reports of one item on one device, so the
        # first report inside the window has nothing to compare with: ask from a day
        # earlier and drop what falls before ``start``.
        subject = history.Subject(patient=patient)
        query = history.inventory_changes_query(subject, start - timedelta(days=1), end)
        start_ms = int(start.timestamp() * 1000)
        rows = self._run(InfluxClient.query, query)
        changes = [
            {"ts": r["time"], "device": r.get("device"), "item": r.get("item"), "diff": r["diff"]}
            for r in rows
            if r.get("diff") and r["time"] >= start_ms
        ]
        return sorted(changes, key=lambda c: c["ts"])

    def first_inventory(self, patient: str) -> int | None:
        """When the patient's cabinets first reported (ms), None if they never did."""
        query = history.first_inventory_query(history.Subject(patient=patient))
        rows = self._run(InfluxClient.query, query)
        return rows[0]["time"] if rows else None

    def daily_vitals(
        self, patient: str, start: datetime, end: datetime, tz: str = "UTC"
    ) -> dict[str, dict]:
        """``{YYYY-MM-DD: {metric: mean}}`` of plausible readings per day in ``tz``."""
        found: dict[str, dict] = {}
        subject = history.Subject(patient=patient)
        for d in self._run(history.daily, subject, start, end, tz):
            day = datetime.fromtimestamp(d.day_ms / 1000, ZoneInfo(tz)).date().isoformat()
            found.setdefault(day, {})[d.metric] = d.mean
        return found


def snacks_per_day(changes: list[dict], zone: tzinfo = UTC) -> dict[str, int]:
    """Items taken out (falls in a count) per day in ``zone``; restocking is not counted."""
    out: dict[str, int] = {}
    for c in changes:
        if c["diff"] < 0:
            day = datetime.fromtimestamp(c["ts"] / 1000, zone).date().isoformat()
            out[day] = out.get(day, 0) + int(-c["diff"])
    return out


def last_changed(changes: list[dict]) -> dict[tuple[str, str], int]:
    """When each (device, item) count last changed, in ms."""
    return {(c["device"], c["item"]): c["ts"] for c in changes}
