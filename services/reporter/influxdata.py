"""The reporter's history: period summaries, charts, alerts, the partial score and snacks.

The alert and inventory statements are the web's too (``services.common.history``);
the partial score's stay here, the only reader of ``news2_partial``.

Statements of one kind go to InfluxDB in one request (``;``-separated), so a
30-day report costs a handful of round trips. Vitals summaries and charts
leave flagged readings out (docs/schema.md); their count is reported apart.
"""

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from services.common import history
from services.common.influx import InfluxClient, Query, join, rows_of

from . import rollups
from .model import VITALS, AlertEntry, ChartPoint, Period, SnackDay, VitalSummary

ALERTS_SHOWN = 25
EXPORT_PAGE = 10_000
EXPORT_MAX_ROWS = 500_000


def _many(client: InfluxClient, statements: list[Query]) -> list[list[dict]]:
    """Run several statements in one request; one row list per statement."""
    results = client.query_raw(join(statements))
    return [rows_of(result) for result in results]


def summarise(metric: str, slots: Sequence[rollups.Slot]) -> VitalSummary:
    """Min, mean, max, in-range and flagged counts of one metric from its hourly slots."""
    count = sum(s.count for s in slots)
    kept = [s for s in slots if s.count]
    return VitalSummary(
        metric,
        count,
        min((s.min for s in kept), default=None),
        sum(s.sum for s in kept) / count if count else None,
        max((s.max for s in kept), default=None),
        sum(s.in_range for s in slots),
        sum(s.total - s.count for s in slots),
    )


def merge(slots: Sequence[rollups.Slot], bucket: int) -> tuple[ChartPoint, ...]:
    """Hourly slots merged into chart buckets aligned like InfluxDB's GROUP BY time()."""
    size = bucket * 1000
    merged: dict[int, list[rollups.Slot]] = {}
    for slot in slots:
        if slot.count:
            merged.setdefault(slot.hour_ms // size * size, []).append(slot)
    return tuple(
        ChartPoint(
            start + size // 2,
            sum(s.sum for s in group) / sum(s.count for s in group),
            min(s.min for s in group),
            max(s.max for s in group),
        )
        for start, group in sorted(merged.items())
    )


def vitals(
    client: InfluxClient, patient: str, period: Period, max_points: int = 240
) -> tuple[list[VitalSummary], dict[str, tuple[ChartPoint, ...]]]:
    """Each metric's summary, and its chart as bucketed mean/min/max drawn at bucket middles."""
    slots = rollups.hourly(client, patient, period)
    summaries = [summarise(metric, slots[metric]) for metric in VITALS]
    bucket = history.bucket_seconds(period.start, period.end, max_points)
    if bucket % 3600 == 0:
        return summaries, {metric: merge(slots[metric], bucket) for metric in VITALS}
    # Buckets under an hour (periods under about ten days): a short raw scan.
    subject = history.Subject(patient=patient)
    statements = [
        history.series_query(subject, metric, period.start, period.end, bucket) for metric in VITALS
    ]
    half = bucket * 500
    charts = {
        metric: tuple(ChartPoint(r["time"] + half, r["mean"], r["min"], r["max"]) for r in rows)
        for metric, rows in zip(VITALS, _many(client, statements), strict=True)
    }
    return summaries, charts


def alerts(
    client: InfluxClient, patient: str, period: Period
) -> tuple[list[AlertEntry], int, dict[str, int]]:
    """The newest alerts, how many there were, and how many of each level."""
    subject = history.Subject(patient=patient)
    listed, counted = _many(
        client,
        [
            history.alerts_query(subject, ALERTS_SHOWN, period.start, period.end),
            history.alert_levels_query(subject, period.start, period.end),
        ],
    )
    entries = [
        AlertEntry(
            r["time"],
            r.get("device") or "",
            r.get("kind") or "",
            r.get("key") or "",
            r.get("level") or "",
            r.get("message") or "",
        )
        for r in listed
    ]
    levels = {r["level"]: int(r["count"]) for r in counted}
    return entries, sum(levels.values()), levels


def score(
    client: InfluxClient, patient: str, period: Period, alert_level: int, tz: str
) -> dict | None:
    """Statistics of the stored partial scores, or None when none was computed."""
    where = '"patient" = $patient AND time >= $start AND time < $end'
    params = {
        "patient": patient,
        "start": history.rfc3339(period.start),
        "end": history.rfc3339(period.end),
        "alert_level": int(alert_level),
        "tz": tz,
    }
    by_day = " GROUP BY time(1d) fill(none)" + ("" if tz == "UTC" else " tz($tz)")
    stats, peak, high, daily = _many(
        client,
        [
            Query(
                'SELECT count("score") AS "n", mean("score") AS "mean", last("score") AS "latest"'
                f' FROM "news2_partial" WHERE {where}',
                params,
            ),
            Query(f'SELECT max("score") AS "max" FROM "news2_partial" WHERE {where}', params),
            Query(
                f'SELECT count("score") AS "n" FROM "news2_partial" WHERE {where}'
                ' AND "score" >= $alert_level',
                params,
            ),
            Query(
                f'SELECT max("score") AS "max" FROM "news2_partial" WHERE {where}{by_day}', params
            ),
        ],
    )
    if not stats or not stats[0].get("n"):
        return None
    return {
        "scores": int(stats[0]["n"]),
        "mean": float(stats[0]["mean"]),
        "latest": int(stats[0]["latest"]),
        "maximum": int(peak[0]["max"]),
        "maximum_ms": int(peak[0]["time"]),
        "at_or_above_alert": int(high[0]["n"]) if high else 0,
        "daily_max": tuple((int(r["time"]), int(r["max"])) for r in daily),
    }


def snacks(client: InfluxClient, patient: str, period: Period, tz: str) -> list[SnackDay]:
    """Items taken out of the cabinet per local day: the falls between consecutive reports."""
    # Summing the falls here rather than in an InfluxQL subquery halves the time.
    query = history.inventory_changes_query(
        history.Subject(patient=patient), period.start, period.end
    )
    zone = ZoneInfo(tz)
    days: dict[int, dict[str, int]] = {}
    for row in client.query(query):
        if row["diff"] < 0:
            moment = datetime.fromtimestamp(row["time"] / 1000, zone)
            day = int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
            items = days.setdefault(day, {})
            items[row["item"]] = items.get(row["item"], 0) - int(row["diff"])
    return [SnackDay(day, items) for day, items in sorted(days.items())]


def readings(client: InfluxClient, patient: str, start: datetime, end: datetime) -> list[dict]:
    """Every reading of the range, flagged ones included, oldest first (for exports).

    Raises ``history.TooManyReadings`` past ``EXPORT_MAX_ROWS`` rather than cut it short.
    """
    subject = history.Subject(patient=patient)
    rows = history.every_row(client, subject, start, end, EXPORT_MAX_ROWS, EXPORT_PAGE)
    rows.reverse()
    return rows
