"""Dashboard and report queries: pure builders, then a real InfluxDB holding 30 days of data."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common import history
from services.common.history import Subject
from services.common.influx import InfluxClient, InfluxSettings
from tests.support.influxdb import InfluxDB

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=30)
STEP_MS = 30_000
SAMPLES = 30 * 2880  # every 30 s for 30 days
FLAG_EVERY = 997  # every 997th heart rate is an implausible 8 bpm


def heart_rate(device_offset: int, i: int) -> float:
    return 8.0 if i % FLAG_EVERY == 0 else 60.0 + device_offset + i % 21


def temperature(i: int) -> float:
    return 36.5 + (i % 5) / 10


def lines_for(device: str, offset: int, patient: str) -> list[str]:
    start_ms = int(START.timestamp() * 1000)
    out = []
    for i in range(SAMPLES):
        t = start_ms + i * STEP_MS
        hr = heart_rate(offset, i)
        flag = hr < 25
        tags = f"device={device},metric=heart_rate,patient={patient}"
        reason = ',reason="8 bpm is below the plausible 25 bpm"' if flag else ""
        out.append(f"vitals,{tags} flagged={'true' if flag else 'false'}{reason},value={hr} {t}")
        tags = f"device={device},metric=temperature,patient={patient}"
        # the gateway stamps each reading of a device in its own millisecond
        out.append(f"vitals,{tags} flagged=false,value={temperature(i)} {t + 1}")
    return out


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """InfluxDB 1.x holding 30 days of readings every 30 s from two watches."""
    workdir = tmp_path_factory.mktemp("influxdb-history")
    server = InfluxDB(workdir).start()
    client = InfluxClient(InfluxSettings(url=server.url, database="vitals", timeout=60))
    client.ensure_database()
    for device, offset, patient in (("wch-01", 0, "p-1"), ("wch-02", 10, "p-2")):
        lines = lines_for(device, offset, patient)
        for i in range(0, len(lines), 50_000):
            client.write(lines[i : i + 50_000])
    yield client
    client.close()
    server.kill()


# --- pure builders ---


# --- against a real InfluxDB ---


def test_latest_value_per_metric_with_its_time(filled):
    found = history.latest(filled, Subject(device="wch-01"))
    last = SAMPLES - 1
    last_ms = int(START.timestamp() * 1000) + last * STEP_MS
    assert set(found) == {"heart_rate", "temperature"}
    assert found["heart_rate"].time_ms == last_ms
    assert found["heart_rate"].value == heart_rate(0, last)
    assert found["temperature"] == history.Latest("temperature", temperature(last), last_ms + 1)
    by_patient = history.latest(filled, Subject(patient="p-2"))
    assert by_patient["heart_rate"].value == heart_rate(10, last)


def test_latest_skips_a_flagged_newest_reading(filled):
    # The newest heart rate written below is implausible; the one before it is shown.
    i = SAMPLES - 1 + 2
    t = int(START.timestamp() * 1000) + i * STEP_MS
    filled.write([f"vitals,device=wch-03,metric=heart_rate value=75,flagged=false {t - STEP_MS}"])
    filled.write([f'vitals,device=wch-03,metric=heart_rate value=0,flagged=true,reason="0" {t}'])
    found = history.latest(filled, Subject(device="wch-03"))
    assert found["heart_rate"] == history.Latest("heart_rate", 75, t - STEP_MS)


def test_series_for_a_month_and_a_day_excludes_flagged_readings(filled):
    month = history.series(filled, Subject(device="wch-01"), "heart_rate", START, END)
    assert len(month) == 240  # 30 days of 3 h buckets
    assert month[0].time_ms == int(START.timestamp() * 1000)
    assert min(b.min for b in month) == 60 and max(b.max for b in month) == 80
    day_start = END - timedelta(days=1)
    day = history.series(filled, Subject(patient="p-2"), "heart_rate", day_start, END)
    assert len(day) == 288  # 5 min buckets
    assert all(70 <= b.min <= b.mean <= b.max <= 90 for b in day)


def test_data_sheet_pages_newest_first_with_flagged_rows_marked(filled):
    subject = Subject(device="wch-01")
    first = history.rows(filled, subject, limit=100)
    second = history.rows(filled, subject, limit=100, before_ms=first.next_before_ms)
    times = [r.time_ms for r in first.rows] + [r.time_ms for r in second.rows]
    assert len(times) == 200 and times == sorted(times, reverse=True)
    assert len(set(times)) == 200
    assert history.rows(filled, subject, limit=100, offset=100).rows == second.rows
    flagged_i = (SAMPLES - 1) // FLAG_EVERY * FLAG_EVERY
    flagged_ms = int(START.timestamp() * 1000) + flagged_i * STEP_MS
    sheet = history.rows(filled, subject, limit=5, before_ms=flagged_ms + 1)
    assert sheet.rows[0].flagged and sheet.rows[0].value == 8
    assert sheet.rows[0].reason == "8 bpm is below the plausible 25 bpm"
    assert not sheet.rows[1].flagged


def test_daily_summaries_count_only_plausible_readings(filled):
    days = history.daily(filled, Subject(device="wch-01"), START, END)
    hr = [d for d in days if d.metric == "heart_rate"]
    temp = [d for d in days if d.metric == "temperature"]
    assert len(hr) == len(temp) == 30
    assert all(d.count == 2880 for d in temp)
    flagged = sum(1 for i in range(SAMPLES) if i % FLAG_EVERY == 0)
    assert sum(d.count for d in hr) == SAMPLES - flagged
    assert all(d.min >= 60 and d.max <= 80 for d in hr)
    assert temp[0].day_ms == int(START.timestamp() * 1000)
    assert temp[0].mean == pytest.approx(36.7)


def test_daily_summaries_in_a_time_zone(filled):
    start, end = START + timedelta(days=10), START + timedelta(days=12)
    days = history.daily(filled, Subject(device="wch-02"), start, end, tz="Asia/Tokyo")
    temp = [d for d in days if d.metric == "temperature"]
    # Tokyo is UTC+9: two UTC days straddle three local days.
    assert len(temp) == 3
    assert sum(d.count for d in temp) == 2 * 2880
