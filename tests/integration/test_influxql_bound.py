"""Hostile names reach InfluxDB as bound values, never as InfluxQL: every reader on a real 1.x."""

from datetime import UTC, datetime, timedelta

import pytest
from influxdb_client import Point, WritePrecision

from services.common import history
from services.common.influx import InfluxClient, InfluxSettings
from services.reporter import influxdata
from services.reporter.model import Period
from services.web.history import HealthData
from tests.support.influxdb import InfluxDB

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=2)
T0 = int(START.timestamp() * 1000)
# Names a patient, a device or a time zone could carry, each stored with its own readings.
STORED = [
    "o'brien",
    "back\\slash",
    'double"quote',
    "x' OR '1'='1",
    "' OR \"patient\" =~ /.*/ OR '",
    "semi'; DROP DATABASE \"vitals\"; SELECT '",
    "dollar $patient",
]
# Names nobody has: they must find nothing, and neither fail nor find someone else's data.
UNKNOWN = ["new\nline", "carriage\rreturn", "x' OR '1'='1' OR '", "\\", "'", "$"]


def _points(patient: str, device: str, base: float) -> list[str]:
    lines = []
    for i in range(6):
        ts = T0 + i * 3_600_000
        vital = (
            Point("vitals")
            .tag("device", device)
            .tag("patient", patient)
            .tag("metric", "heart_rate")
            .field("value", base + i)
            .field("flagged", False)
            .time(ts, WritePrecision.MS)
        )
        score = (
            Point("news2_partial")
            .tag("device", device)
            .tag("patient", patient)
            .field("score", 2 + i % 2)
            .time(ts, WritePrecision.MS)
        )
        stock = (
            Point("inventory")
            .tag("device", device)
            .tag("patient", patient)
            .tag("item", "apple")
            .field("count", 10 - i)
            .time(ts, WritePrecision.MS)
        )
        lines += [vital.to_line_protocol(), score.to_line_protocol(), stock.to_line_protocol()]
    alert = (
        Point("alerts")
        .tag("device", device)
        .tag("patient", patient)
        .tag("kind", "threshold")
        .tag("key", "heart_rate")
        .tag("level", "warning")
        .field("message", f"alert of {patient}")
        .field("value", base)
        .time(T0 + 1, WritePrecision.MS)
    )
    return [*lines, alert.to_line_protocol()]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A real InfluxDB holding alice's readings and those of every hostile name."""
    server = InfluxDB(tmp_path_factory.mktemp("influxdb-bound")).start()
    settings = InfluxSettings(url=server.url, database="vitals")
    with InfluxClient(settings) as client:
        client.ensure_database()
        lines = _points("alice", "wch-alice", 60.0)
        for n, name in enumerate(STORED):
            lines += _points(name, f"wch-{n}", 100.0 + 10 * n)
        client.write(lines)
        kept = client.query('SHOW TAG VALUES FROM "vitals" WITH KEY = "patient"')
        # Line protocol carries each name unchanged, so a reader finding none is the reader's fault.
        assert sorted(r["value"] for r in kept) == sorted(["alice", *STORED])
        yield settings, client
    server.kill()


@pytest.mark.parametrize("n", range(len(STORED)))
def test_the_dashboard_finds_exactly_a_hostile_patients_own_data(stored, n):
    settings, _ = stored
    name, base = STORED[n], 100.0 + 10 * n
    data = HealthData(settings)
    try:
        assert data.latest(name)["heart_rate"]["value"] == base + 5
        assert [r["value"] for r in data.recent(name, "heart_rate", 10)] == [
            base + i for i in reversed(range(6))
        ]
        chart = data.series(name, ["heart_rate"], START, END)["metrics"]["heart_rate"]
        assert [b["mean"] for b in chart] == [base + i for i in range(6)]
        rows, _ = data.sheet(name, None, 50)
        assert {r["device"] for r in rows} == {f"wch-{n}"}
        assert [a["message"] for a in data.alerts(name, 10)] == [f"alert of {name}"]
        assert len(data.inventory_changes(name, START, END)) == 5
        assert list(data.daily_vitals(name, START, END)) == ["2026-03-01"]
        assert {r["heart_rate"] for r in data.sheet_range(name, START, END)} == {
            base + i for i in range(6)
        }
    finally:
        data.close()


@pytest.mark.parametrize("n", range(len(STORED)))
def test_reports_find_exactly_a_hostile_patients_own_data(stored, n):
    _, client = stored
    name, base = STORED[n], 100.0 + 10 * n
    period = Period(START, END)
    summaries, _ = influxdata.vitals(client, name, period)
    heart = next(s for s in summaries if s.metric == "heart_rate")
    assert (heart.count, heart.minimum, heart.maximum) == (6, base, base + 5)
    entries, total, _ = influxdata.alerts(client, name, period)
    assert [e.message for e in entries] == [f"alert of {name}"] and total == 1
    score = influxdata.score(client, name, period, 3, "Europe/Paris")
    assert score["scores"] == 6 and score["at_or_above_alert"] == 3
    assert sum(d.taken["apple"] for d in influxdata.snacks(client, name, period, "UTC")) == 5
    assert len(influxdata.readings(client, name, START, END)) == 6


@pytest.mark.parametrize("name", UNKNOWN)
def test_a_name_nobody_has_finds_nothing_and_fails_nothing(stored, name):
    settings, client = stored
    data = HealthData(settings)
    try:
        assert data.latest(name) == {}
        assert data.alerts(name, 10) == []
        assert data.inventory_changes(name, START, END) == []
        assert data.daily_vitals(name, START, END) == {}
    finally:
        data.close()
    assert history.rows(client, history.Subject(device=name)).rows == []
    assert influxdata.score(client, name, Period(START, END), 3, "UTC") is None
    assert influxdata.readings(client, name, START, END) == []


def test_a_hostile_time_zone_is_refused_as_a_value_not_run(stored):
    _, client = stored
    query = history.daily_query(history.Subject(patient="alice"), START, END, "UTC') fill(0) --")
    with pytest.raises(Exception, match="unable to find time zone"):
        client.query(query)
    assert client.databases().count("vitals") == 1
