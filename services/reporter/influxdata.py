"""The reporter's InfluxQL: period summaries, charts, alerts, the partial score and snacks.

Statements of one kind go to InfluxDB in one request (``;``-separated), so a
30-day report costs a handful of round trips. Vitals summaries and charts
leave flagged readings out (docs/schema.md); their count is reported apart.
"""

from collections.abc import Iterator
from datetime import datetime

from services.common import history
from services.common.influx import InfluxClient, quote_str, rows_of

from .model import VITALS, AlertEntry, ChartPoint, Period, SnackDay, VitalSummary

ALERTS_SHOWN = 25
EXPORT_PAGE = 10_000
EXPORT_MAX_ROWS = 500_000


def _range(period: Period) -> str:
    return f"time >= {history.rfc3339(period.start)} AND time < {history.rfc3339(period.end)}"


def _who(patient: str) -> str:
    return f'"patient" = {quote_str(patient)}'


def _tz(tz: str) -> str:
    return "" if tz == "UTC" else f" tz({quote_str(tz)})"


def _many(client: InfluxClient, statements: list[str]) -> list[list[dict]]:
    """Run several statements in one request; one row list per statement."""
    results = client.query_raw(";\n".join(statements))
    return [rows_of(result) for result in results]


def vital_summaries(client: InfluxClient, patient: str, period: Period) -> list[VitalSummary]:
    """Min, mean, max, count, in-range count and flagged count of each metric."""
    where = f"{_who(patient)} AND {_range(period)}"
    statements = [
        'SELECT count("value") AS "count", min("value") AS "min", mean("value") AS "mean",'
        f' max("value") AS "max" FROM "vitals" WHERE {where} AND "flagged" = false'
        ' GROUP BY "metric"',
        f'SELECT count("value") AS "count" FROM "vitals" WHERE {where} AND "flagged" = true'
        ' GROUP BY "metric"',
    ]
    # One scan for every metric's normal range instead of one query per metric.
    ranges = " OR ".join(
        f'("metric" = {quote_str(metric)} AND "value" >= {low!r} AND "value" <= {high!r})'
        for metric, (_, _, low, high) in VITALS.items()
    )
    statements.append(
        f'SELECT count("value") AS "count" FROM "vitals" WHERE {where}'
        f' AND "flagged" = false AND ({ranges}) GROUP BY "metric"'
    )
    stats, flagged, in_range = _many(client, statements)
    by_metric = {r["metric"]: r for r in stats}
    flagged_by = {r["metric"]: int(r["count"]) for r in flagged}
    in_range_by = {r["metric"]: int(r["count"]) for r in in_range}
    out = []
    for metric in VITALS:
        row = by_metric.get(metric, {})
        out.append(
            VitalSummary(
                metric,
                int(row.get("count") or 0),
                row.get("min"),
                row.get("mean"),
                row.get("max"),
                in_range_by.get(metric, 0),
                flagged_by.get(metric, 0),
            )
        )
    return out


def charts(
    client: InfluxClient, patient: str, period: Period, max_points: int = 240
) -> dict[str, tuple[ChartPoint, ...]]:
    """Bucketed mean/min/max of every metric, each bucket drawn at its middle."""
    bucket = history.bucket_seconds(period.start, period.end, max_points)
    subject = history.Subject(patient=patient)
    statements = [
        history.series_query(subject, metric, period.start, period.end, bucket) for metric in VITALS
    ]
    half = bucket * 500
    return {
        metric: tuple(ChartPoint(r["time"] + half, r["mean"], r["min"], r["max"]) for r in rows)
        for metric, rows in zip(VITALS, _many(client, statements), strict=True)
    }


def alerts(
    client: InfluxClient, patient: str, period: Period
) -> tuple[list[AlertEntry], int, dict[str, int]]:
    """The newest alerts, how many there were, and how many of each level."""
    where = f"{_who(patient)} AND {_range(period)}"
    listed, counted = _many(
        client,
        [
            'SELECT "message", "device", "kind", "key", "level" FROM "alerts"'
            f" WHERE {where} ORDER BY time DESC LIMIT {ALERTS_SHOWN}",
            f'SELECT count("message") AS "count" FROM "alerts" WHERE {where} GROUP BY "level"',
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
    where = f"{_who(patient)} AND {_range(period)}"
    stats, peak, high, daily = _many(
        client,
        [
            'SELECT count("score") AS "n", mean("score") AS "mean", last("score") AS "latest"'
            f' FROM "news2_partial" WHERE {where}',
            f'SELECT max("score") AS "max" FROM "news2_partial" WHERE {where}',
            f'SELECT count("score") AS "n" FROM "news2_partial" WHERE {where}'
            f' AND "score" >= {int(alert_level)}',
            f'SELECT max("score") AS "max" FROM "news2_partial" WHERE {where}'
            f" GROUP BY time(1d) fill(none){_tz(tz)}",
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
    where = f"{_who(patient)} AND {_range(period)}"
    query = (
        'SELECT sum("change") AS "change" FROM (SELECT difference("count") AS "change"'
        f' FROM "inventory" WHERE {where} GROUP BY "device", "item")'
        f' WHERE "change" < 0 AND {_range(period)} GROUP BY time(1d), "item" fill(none){_tz(tz)}'
    )
    days: dict[int, dict[str, int]] = {}
    for row in client.query(query):
        days.setdefault(int(row["time"]), {})[row["item"]] = -int(row["change"])
    return [SnackDay(day, items) for day, items in sorted(days.items())]


def readings(client: InfluxClient, patient: str, start: datetime, end: datetime) -> Iterator:
    """Every reading of the range, flagged ones included, oldest first (for exports)."""
    subject = history.Subject(patient=patient)
    before: int | None = None
    pages = []
    total = 0
    while total < EXPORT_MAX_ROWS:
        query = history.rows_query(
            subject, limit=EXPORT_PAGE, before_ms=before, start=start, end=end
        )
        rows = client.query(query)
        pages.append(rows)
        total += len(rows)
        if len(rows) < EXPORT_PAGE:
            break
        before = rows[-1]["time"]
    for rows in reversed(pages):
        yield from reversed(rows)
