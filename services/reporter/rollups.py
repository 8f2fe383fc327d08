"""Hourly rollups of the vitals, so a month's report reads hours rather than every reading.

A 30-day report summarises about 300,000 readings, and scanning them was most of a
report's time. Each closed hour's aggregates per patient and metric (all readings,
plausible readings, their sum, min and max, and how many were in the normal range)
are stored in the ``vitals_1h`` measurement the first time a report needs them.

A stored hour is trusted only while its count of readings equals the raw count
InfluxDB gives for that hour, which is a cheap query. A late reading (a replayed
spool, a redelivery) therefore makes the hour be recomputed, never missed, and a
failed rollup write only makes the next report slower. The ``v`` tag fingerprints
the normal ranges, so changing them retires the old rollups.
"""

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from influxdb_client import Point, WritePrecision

from services.common import history, logs
from services.common.influx import InfluxClient, InfluxError, Query, join, rows_of

from .model import VITALS, Period

log = logging.getLogger(__name__)

MEASUREMENT = "vitals_1h"
HOUR_MS = 3_600_000
MAX_RANGES = 24  # more stale stretches than this are read as one scan
VERSION = hashlib.sha256(
    repr(("vitals_1h/1", sorted((m, v[2], v[3]) for m, v in VITALS.items()))).encode()
).hexdigest()[:8]


@dataclass(frozen=True)
class Slot:
    """One metric's readings in one hour (or in the part of it inside the period)."""

    hour_ms: int
    total: int  # every reading, flagged ones included
    count: int  # plausible readings, which the rest describe
    sum: float
    min: float | None
    max: float | None
    in_range: int


Key = tuple[str, int]  # (metric, hour_ms)


def _ms(period: Period) -> tuple[int, int]:
    return int(period.start.timestamp() * 1000), int(period.end.timestamp() * 1000)


def _span(start_ms: int, end_ms: int) -> str:
    return f"time >= {int(start_ms)}ms AND time < {int(end_ms)}ms"


def _who(patient: str) -> str:
    return " AND ".join(history.Subject(patient=patient).conditions())


def _bound(patient: str) -> dict:
    """The values behind ``_who`` and ``_in_range``'s placeholders."""
    params: dict = history.Subject(patient=patient).params()
    for metric, (_, _, low, high) in VITALS.items():
        params |= {f"{metric}_name": metric, f"{metric}_low": low, f"{metric}_high": high}
    return params


def _in_range() -> str:
    return " OR ".join(
        f'("metric" = ${metric}_name AND "value" >= ${metric}_low AND "value" <= ${metric}_high)'
        for metric in VITALS
    )


def _totals(patient: str, start_ms: int, end_ms: int) -> Query:
    return Query(
        f'SELECT count("value") AS "total" FROM "vitals" WHERE {_who(patient)}'
        f' AND {_span(start_ms, end_ms)} GROUP BY time(1h), "metric" fill(none)',
        _bound(patient),
    )


def _aggregates(patient: str, start_ms: int, end_ms: int) -> list[Query]:
    """Totals, plausible statistics and in-range counts per hour and metric of one span."""
    where = f'{_who(patient)} AND "flagged" = false AND {_span(start_ms, end_ms)}'
    return [
        _totals(patient, start_ms, end_ms),
        Query(
            'SELECT count("value") AS "count", sum("value") AS "sum", min("value") AS "min",'
            f' max("value") AS "max" FROM "vitals" WHERE {where}'
            ' GROUP BY time(1h), "metric" fill(none)',
            _bound(patient),
        ),
        Query(
            f'SELECT count("value") AS "in_range" FROM "vitals" WHERE {where} AND ({_in_range()})'
            ' GROUP BY time(1h), "metric" fill(none)',
            _bound(patient),
        ),
    ]


def _runs(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous stretches of hours as ``[start, end)`` spans."""
    spans: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if spans and spans[-1][1] == hour:
            spans[-1] = (spans[-1][0], hour + HOUR_MS)
        else:
            spans.append((hour, hour + HOUR_MS))
    if len(spans) > MAX_RANGES:
        spans = [(spans[0][0], spans[-1][1])]
    return spans


def _computed(client: InfluxClient, patient: str, spans: list[tuple[int, int]]) -> dict[Key, Slot]:
    """Aggregate the raw readings of ``spans`` (one request for all of them)."""
    if not spans:
        return {}
    statements = [s for start, end in spans for s in _aggregates(patient, start, end)]
    results = [rows_of(r) for r in client.query_raw(join(statements))]
    slots: dict[Key, Slot] = {}
    for i in range(0, len(results), 3):
        totals, stats, in_range = results[i : i + 3]
        stat = {(r["metric"], r["time"]): r for r in stats}
        inside = {(r["metric"], r["time"]): int(r["in_range"]) for r in in_range}
        for row in totals:
            key = (row["metric"], row["time"])
            s = stat.get(key, {})
            slots[key] = Slot(
                key[1],
                int(row["total"]),
                int(s.get("count") or 0),
                float(s.get("sum") or 0.0),
                s.get("min"),
                s.get("max"),
                inside.get(key, 0),
            )
    return slots


def _stored(row: dict) -> Slot:
    return Slot(
        row["time"],
        int(row["total"]),
        int(row["count"]),
        float(row["sum"] or 0.0),
        row.get("min"),
        row.get("max"),
        int(row["in_range"]),
    )


def _line(patient: str, metric: str, slot: Slot) -> str:
    point = (
        Point(MEASUREMENT)
        .tag("patient", patient)
        .tag("metric", metric)
        .tag("v", VERSION)
        .field("total", slot.total)
        .field("count", slot.count)
        .field("sum", float(slot.sum))
        .field("in_range", slot.in_range)
        .time(slot.hour_ms, WritePrecision.MS)
    )
    if slot.count:
        point.field("min", float(slot.min)).field("max", float(slot.max))
    return point.to_line_protocol()


def hourly(
    client: InfluxClient, patient: str, period: Period, now_ms: int | None = None
) -> dict[str, list[Slot]]:
    """Per metric, the period's hourly slots, oldest first; partial hours at its edges.

    Closed whole hours come from stored rollups when their counts still match the
    raw data, and are recomputed and stored otherwise; the partial hours at the
    period's edges and the hours not yet over are always read raw.
    """
    start_ms, end_ms = _ms(period)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    first = -(-start_ms // HOUR_MS) * HOUR_MS
    closed_end = min(end_ms // HOUR_MS, now_ms // HOUR_MS) * HOUR_MS
    slots: dict[Key, Slot] = {}
    stale: set[Key] = set()
    if first < closed_end:
        raw, stored = (
            rows_of(r)
            for r in client.query_raw(
                join(
                    [
                        _totals(patient, first, closed_end),
                        Query(
                            f'SELECT * FROM "{MEASUREMENT}" WHERE {_who(patient)}'
                            f' AND "v" = $version AND {_span(first, closed_end)}'
                            ' GROUP BY "metric"',
                            {"patient": patient, "version": VERSION},
                        ),
                    ]
                )
            )
        )
        raw_totals = {(r["metric"], r["time"]): int(r["total"]) for r in raw}
        kept = {(r["metric"], r["time"]): r for r in stored}
        for key in raw_totals.keys() | kept.keys():
            row = kept.get(key)
            if row is not None and int(row["total"]) == raw_totals.get(key, 0):
                if row["total"]:
                    slots[key] = _stored(row)
            else:
                stale.add(key)
        edges = [(start_ms, first), (closed_end, end_ms)]
    else:
        first = closed_end = start_ms
        edges = [(start_ms, end_ms)]
    edges = [(a, b) for a, b in edges if a < b]
    fresh = _computed(client, patient, _runs({hour for _, hour in stale}) + edges)
    slots.update(fresh)
    # Store every closed hour read raw; a stale hour with no readings left is stored as zeros.
    recomputed: dict[Key, Slot | None] = dict.fromkeys(stale)
    recomputed.update((key, s) for key, s in fresh.items() if first <= key[1] < closed_end)
    _store(client, patient, recomputed)
    out: dict[str, list[Slot]] = {metric: [] for metric in VITALS}
    for (metric, _), slot in sorted(slots.items(), key=lambda item: item[0][1]):
        if metric in out:
            out[metric].append(slot)
    return out


def _store(client: InfluxClient, patient: str, recomputed: dict[Key, Slot | None]) -> None:
    """Write recomputed closed hours; an hour that emptied is stored as zeros."""
    lines = [
        _line(patient, metric, slot or Slot(hour, 0, 0, 0.0, None, None, 0))
        for (metric, hour), slot in recomputed.items()
    ]
    if not lines:
        return
    try:
        client.write(lines)
    except InfluxError as exc:
        # The report is still right (it used the raw data); only the next one is slower.
        logs.event(
            log, logging.WARNING, "reporter.rollup_write_failed", hours=len(lines), error=exc
        )


def patients(client: InfluxClient) -> list[str]:
    """Every patient with readings, from InfluxDB's index."""
    rows = client.query('SHOW TAG VALUES FROM "vitals" WITH KEY = "patient"')
    return sorted(row["value"] for row in rows)


class Keeper:
    """Rolls up each patient's closed hours in the background, so reports find them ready.

    One patient per ``step``, so a report request waits for at most one patient's
    roll-up. The first pass covers ``days``; later passes, one shortly after each
    hour closes, cover the last two days. Older late readings are caught by the
    count check when a report reads their hour.
    """

    RECENT_DAYS = 2
    SETTLE_S = 120  # readings of the hour just closed may still be on their way

    def __init__(self, days: int) -> None:
        self.days = days
        self._pending: list[str] = []
        self._window = self._window_days = days
        self._due = 0.0

    def wait(self, now: float) -> float | None:
        """Seconds until the next step is due; None when rollups are turned off."""
        if self.days <= 0:
            return None
        return 0.0 if self._pending else max(0.0, self._due - now)

    def step(self, client: InfluxClient, now: float) -> None:
        """Roll up the next patient, starting a pass when one is due."""
        if not self._pending:
            if self.days <= 0 or now < self._due:
                return
            hour_s = HOUR_MS // 1000
            self._due = (now // hour_s + 1) * hour_s + self.SETTLE_S
            try:
                self._pending = patients(client)
            except InfluxError as exc:
                logs.event(log, logging.WARNING, "reporter.rollup_failed", error=exc)
                return
            self._window = self._window_days
            self._window_days = min(self.days, self.RECENT_DAYS)
            if not self._pending:
                return
        patient = self._pending.pop()
        end = datetime.fromtimestamp(now, UTC)
        period = Period(end - timedelta(days=self._window), end)
        try:
            hourly(client, patient, period, int(now * 1000))
        except InfluxError as exc:
            logs.event(log, logging.WARNING, "reporter.rollup_failed", patient=patient, error=exc)
        if not self._pending:
            logs.event(log, logging.INFO, "reporter.rollups_done", days=self._window)
