"""Habit days are the patient's own days: snacks and vitals from a real InfluxDB follow them."""

from datetime import UTC, datetime, timedelta

import pytest
from influxdb_client import Point, WritePrecision

from services.common.influx import InfluxClient, InfluxSettings
from services.web import create_app, stop_background
from services.web.settings import Settings

# Six hourly readings and cabinet counts from 00:00 UTC on 1 March 2026: in New York
# (UTC-5 then) the first five fall on the evening of 28 February, the last on 1 March.
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ZONE = "America/New_York"


def _lines() -> list[str]:
    lines = []
    for i in range(6):
        ts = int((T0 + timedelta(hours=i)).timestamp() * 1000)
        vital = (
            Point("vitals")
            .tag("device", "wch-1")
            .tag("patient", "alice")
            .tag("metric", "heart_rate")
            .field("value", 60.0 + i)
            .field("flagged", False)
        )
        count = (
            Point("inventory")
            .tag("device", "cab-1")
            .tag("patient", "alice")
            .tag("item", "apple")
            .field("count", 10 - i)
        )
        lines += [p.time(ts, WritePrecision.MS).to_line_protocol() for p in (vital, count)]
    return lines


@pytest.fixture
def habits_app(tmp_path, influxdb, database_url):
    with InfluxClient(InfluxSettings(url=influxdb.url, database="vitals")) as client:
        client.ensure_database()
        client.write(_lines())
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "WEB_LIVE": "0",
        "DATABASE_URL": database_url,
        **influxdb.env(),
    }
    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    yield app
    stop_background(app)


def _week(client) -> dict:
    week = client.get("/api/p/alice/habits?end=2026-03-01").json
    return {row["day"]: row for row in week["days"]}


def test_snacks_and_vitals_are_counted_on_the_patients_days(habits_app, auth):
    auth.make_patient(habits_app, "alice")
    client = habits_app.test_client()
    auth.sign_in_patient(client, "alice")
    utc = _week(client)
    assert utc["2026-03-01"]["snacks"] == 5 and utc["2026-02-28"]["snacks"] is None
    assert utc["2026-03-01"]["vitals"]["heart_rate"] == pytest.approx(62.5)

    token = auth.csrf(client, "/p/alice/medications")
    client.post("/p/alice/medications/timezone", data={"csrf_token": token, "timezone": ZONE})
    local = _week(client)
    # The cabinet first counted at 19:00 on 28 February in New York: the fall that
    # evening counts there, the one after midnight on 1 March, and nothing before.
    assert (local["2026-02-28"]["snacks"], local["2026-03-01"]["snacks"]) == (4, 1)
    assert local["2026-02-27"]["snacks"] is None
    assert local["2026-02-28"]["vitals"]["heart_rate"] == pytest.approx(62.0)
    assert local["2026-03-01"]["vitals"]["heart_rate"] == pytest.approx(65.0)
