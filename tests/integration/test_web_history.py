"""The history adapter on a real InfluxDB: cards, data-sheet pages, CSV, chart, alerts."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common import history
from services.common.influx import InfluxClient, InfluxSettings
from services.web import history as history_module
from services.web.history import HealthData

T0 = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)


def _line(device, patient, metric, value, ts, flagged=False):
    extra = ',reason="implausible"' if flagged else ""
    flag = "true" if flagged else "false"
    return (
        f"vitals,device={device},metric={metric},patient={patient}"
        f" flagged={flag},value={value}{extra} {ts}"
    )


@pytest.fixture
def health(influxdb):
    settings = InfluxSettings(url=influxdb.url, database="vitals")
    with InfluxClient(settings) as client:
        client.ensure_database()
        lines = []
        # 60 watch readings 30 s apart: heart rate and temperature 3 ms apart, like the gateway.
        for i in range(60):
            ts = T0 + i * 30_000
            lines.append(_line("wch", "alice", "heart_rate", 60 + i, ts, flagged=(i == 10)))
            lines.append(_line("wch", "alice", "temperature", 36.5, ts + 3))
        lines.append(_line("wch9", "bob", "heart_rate", 99, T0))
        lines.append(
            f"alerts,device=wch,key=heart_rate,kind=threshold,level=warning,patient=alice"
            f' message="heart_rate 150 is above 130",value=150 {T0 + 5}'
        )
        client.write(lines)
    data = HealthData(settings)
    yield data
    data.close()


def test_latest_marks_a_flagged_reading_and_keeps_patients_apart(health):
    latest = health.latest("alice")
    assert latest["heart_rate"]["value"] == 119
    assert latest["temperature"]["ts"] == T0 + 59 * 30_000 + 3
    assert "spo2" not in latest
    assert health.latest("bob")["heart_rate"]["value"] == 99
    assert health.latest("nobody") == {}


def test_data_sheet_pages_cover_every_row_once_newest_first(health):
    seen, before = [], None
    while True:
        rows, before = health.sheet("alice", before, 7)
        seen += rows
        if before is None:
            break
    assert len(seen) == 60
    assert [r["ts"] for r in seen] == sorted((r["ts"] for r in seen), reverse=True)
    assert all("heart_rate" in r and "temperature" in r for r in seen)
    assert [r["heart_rate"] for r in seen if r["flagged"]] == [70]


def test_data_sheet_pages_lose_no_row_when_two_devices_share_a_millisecond(influxdb):
    settings = InfluxSettings(url=influxdb.url, database="vitals")
    with InfluxClient(settings) as client:
        client.ensure_database()
        client.write(
            _line(device, "dana", "heart_rate", 60 + i, T0 + i * 60_000)
            for i in range(6)
            for device in ("wch-a", "wch-b")
        )
    data = HealthData(settings)
    try:
        seen, before = [], None
        while True:
            rows, before = data.sheet("dana", before, 3)  # cuts fall between a and b
            seen += [(r["device"], r["ts"]) for r in rows]
            if before is None:
                break
    finally:
        data.close()
    assert len(seen) == 12 and len(set(seen)) == 12


def test_two_watches_at_the_same_moments_make_one_whole_row_each(influxdb):
    settings = InfluxSettings(url=influxdb.url, database="vitals")
    metrics = ("heart_rate", "temperature", "spo2")
    with InfluxClient(settings) as client:
        client.ensure_database()
        # both watches answer each request within the same few milliseconds, interleaved
        client.write(
            _line(device, "erin", metric, 70 + i, T0 + i * 30_000 + 2 * k + d)
            for i in range(10)
            for k, metric in enumerate(metrics)
            for d, device in enumerate(("wch-01", "wch-02"))
        )
    data = HealthData(settings)
    try:
        seen, before = [], None
        while True:
            rows, before = data.sheet("erin", before, 4)
            seen += rows
            if before is None:
                break
    finally:
        data.close()
    assert len(seen) == 20  # one row per watch and moment, not one per reading
    assert all(set(metrics) <= set(r) for r in seen)
    assert sorted((r["device"], r["heart_rate"]) for r in seen) == sorted(
        (device, 70 + i) for i in range(10) for device in ("wch-01", "wch-02")
    )


def test_a_patient_with_two_watches_sees_each_readings_source(influxdb, tmp_path, auth):
    from services.web import create_app, db, devices, stop_background
    from services.web.settings import Settings

    settings = InfluxSettings(url=influxdb.url, database="vitals")
    with InfluxClient(settings) as client:
        client.ensure_database()
        client.write(
            [
                _line("wch-01", "erin", "heart_rate", 72.58, T0),
                _line("wch-02", "erin", "heart_rate", 64.2, T0 + 1),
                _line("manual-erin", "erin", "bp_systolic", 121, T0 + 2),
                _line("manual-erin", "erin", "bp_diastolic", 79, T0 + 2),
            ]
        )
    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "web"), "WEB_LIVE": "0", **influxdb.env()}
    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    try:
        erin, _ = auth.make_patient(app, "erin")
        conn = db.connect(app.config["DATABASE"])
        for device in ("wch-01", "wch-02"):
            devices.assign(conn, device, erin.id)
        conn.close()
        client = app.test_client()
        auth.sign_in_patient(client, "erin")
        sheet = client.get("/p/erin/datasheet").get_data(as_text=True)
        assert "<th>Source</th>" in sheet
        for source, value in (("wch-01", "73"), ("wch-02", "64"), ("typed in", "121/79")):
            assert f'<td class="source">{source}</td>' in sheet
            assert f"<td>{value}</td>" in sheet
        monitoring = client.get("/p/erin/monitoring").get_data(as_text=True)
        assert 'data-sources="1"' in monitoring
        assert '<span class="source">from wch-02</span>' in monitoring  # the newest heart rate
        assert '<span class="source">from typed in</span>' in monitoring
        home = client.get("/p/erin").get_data(as_text=True)
        assert '<small class="source">from wch-02</small>' in home
    finally:
        stop_background(app)


def test_csv_range_and_chart_series(health):
    start = datetime.fromtimestamp((T0 + 20 * 30_000) / 1000, UTC)
    end = datetime.fromtimestamp((T0 + 40 * 30_000) / 1000, UTC)
    rows = list(health.sheet_range("alice", start, end))
    assert [r["heart_rate"] for r in rows] == list(range(99, 79, -1))
    series = health.series("alice", ["heart_rate"], start - timedelta(hours=1), end)
    points = series["metrics"]["heart_rate"]
    assert series["interval_ms"] == 30_000
    assert [p["mean"] for p in points][:3] == [60, 61, 62]
    assert 70 not in [p["mean"] for p in points], "flagged readings are not plotted"


def test_every_reading_once_even_when_a_page_ends_inside_a_millisecond(influxdb):
    # A blood pressure typed in by hand is two readings at one millisecond (three with
    # a watch's at the same time); with four readings a page, boundaries fall inside them.
    lines = []
    for i in range(10):
        ts = T0 + i * 60_000
        lines.append(_line("manual-carol", "carol", "bp_systolic", 120 + i, ts))
        lines.append(_line("manual-carol", "carol", "bp_diastolic", 80 + i, ts))
    lines.append(_line("wch", "carol", "heart_rate", 70, T0 + 5 * 60_000))
    settings = InfluxSettings(url=influxdb.url, database="vitals")
    start = datetime.fromtimestamp(T0 / 1000, UTC)
    with InfluxClient(settings) as client:
        client.ensure_database()
        client.write(lines)
        subject = history.Subject(patient="carol")
        got = list(
            history.every_reading(client, subject, start, start + timedelta(hours=1), 100, 4)
        )
        assert len(got) == 21
        assert len({(r.time_ms, r.metric, r.device) for r in got}) == 21
        assert [r.time_ms for r in got] == sorted((r.time_ms for r in got), reverse=True)
        with pytest.raises(history.TooManyReadings, match="more than 20 readings"):
            list(history.every_reading(client, subject, start, start + timedelta(hours=1), 20, 4))


def test_alerts_of_one_patient(health):
    [alert] = health.alerts("alice", 10)
    assert alert["message"] == "heart_rate 150 is above 130" and alert["level"] == "warning"
    assert health.alerts("bob", 10) == []


def test_the_json_and_csv_views_over_real_data(health, influxdb, tmp_path, monkeypatch, auth):
    from services.web import create_app, stop_background
    from services.web.settings import Settings

    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "web"), "WEB_LIVE": "0", **influxdb.env()}
    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    try:
        auth.make_patient(app, "alice")
        client = app.test_client()
        auth.sign_in_patient(client, "alice")
        day = "2026-03-01"
        series = client.get(f"/api/p/alice/series?range=custom&start={day}&end={day}")
        assert series.status_code == 200
        assert series.json["end"] - series.json["start"] == 86_400_000
        buckets = series.json["metrics"]["heart_rate"]
        assert series.json["interval_ms"] == 300_000 and len(buckets) == 6
        assert buckets[1]["min"] == 71, "the flagged 70 is left out"
        assert set(series.json["metrics"]) == {
            "temperature",
            "spo2",
            "bp_systolic",
            "bp_diastolic",
            "heart_rate",
        }
        only = client.get(f"/api/p/alice/series?range=custom&start={day}&end={day}&metrics=spo2")
        assert list(only.json["metrics"]) == ["spo2"]
        backwards = client.get("/api/p/alice/series?range=custom&start=2026-03-02&end=2026-03-01")
        assert backwards.status_code == 400
        assert client.get("/api/p/alice/series?range=year").status_code == 400
        for start, end in (("9999-12-30", "9999-12-31"), ("0001-01-01T00:00:00%2B14:00", day)):
            for path in ("/api/p/alice/series", "/p/alice/datasheet.csv"):
                edge = client.get(f"{path}?range=custom&start={start}&end={end}")
                assert edge.status_code == 400, (path, start)
                assert "between the years 1 and 9999" in edge.get_data(as_text=True)
        first = client.get("/api/p/alice/datasheet").json
        assert len(first["rows"]) == 25 and first["older"]
        older = client.get(f"/api/p/alice/datasheet?before={first['older']}").json
        assert older["rows"][0]["ts"] < first["rows"][-1]["ts"]
        csv = client.get(f"/p/alice/datasheet.csv?range=custom&start={day}&end={day}")
        lines = csv.get_data(as_text=True).splitlines()
        assert csv.headers["Content-Disposition"].startswith("attachment;")
        assert len(lines) == 61 and lines[1].startswith("2026-03-01T00:29:30.003Z,119,36.5,")
        assert sum(line.endswith(",yes") for line in lines) == 1
        page = client.get("/p/alice/datasheet").get_data(as_text=True)
        assert page.count('class="flagged"') == 0 and "<td>119</td>" in page  # 0 decimals
        assert "<td>36.5</td>" in page and "Source" not in page  # one watch: no source
        assert "Older" in page
        recent = client.get("/api/p/alice/recent?metric=heart_rate").json
        assert [r["value"] for r in recent][:2] == [119, 118]
        assert client.get("/api/p/alice/recent?metric=glucose").status_code == 400
        monkeypatch.setattr(history_module, "CSV_MAX_ROWS", 100)
        too_long = client.get(f"/p/alice/datasheet.csv?range=custom&start={day}&end={day}")
        assert too_long.status_code == 400
        assert "more than 100 readings; choose a shorter one" in too_long.get_data(as_text=True)
    finally:
        stop_background(app)
