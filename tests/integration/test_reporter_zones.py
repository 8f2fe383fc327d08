"""A report's days are the patient's own: their time zone, else REPORT_TIMEZONE."""

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.common.influx import InfluxClient, InfluxSettings
from services.common.medication import store
from services.web import db as webdb
from tests.support import pdf as pdftools
from tests.support.mqtt import TopicLog
from tests.support.reports import make_people
from tests.support.services import ROOT

ZONE = "Pacific/Kiritimati"  # UTC+14: its days never begin at UTC midnight


def _own_zone(data) -> None:
    make_people(data)
    conn = webdb.connect(data / "web.sqlite3")
    try:
        alice = conn.execute("SELECT id FROM users WHERE username = 'alice'").fetchone()["id"]
        store.set_timezone(conn, alice, ZONE, alice, "alice")
    finally:
        conn.close()


def _midnights(days: int) -> tuple[str, str]:
    """The report's bounds: ``days`` whole days in ZONE, up to and including today."""
    end = datetime.now(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    end += timedelta(days=1)
    return (end - timedelta(days=days)).isoformat(), end.isoformat()


def test_requests_weekly_jobs_and_the_cli_count_the_patients_days(
    tmp_path, influxdb, make_reporter, broker
):
    data = tmp_path / "data"
    _own_zone(data)
    with InfluxClient(InfluxSettings(url=influxdb.url)) as client:
        client.ensure_database()
    reporter = make_reporter(REPORT_TIMEZONE="Asia/Kolkata")
    reporter.wait_log("mqtt.connected")
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        for who, period in (("alice", {"days": 7}), ("bob", {"days": 1})):
            request = {"id": f"z-{who}", "requester": {"role": "patient", "id": who}}
            request |= {"patient": who, "period": period}
            mqtt.publish("smartcab/reports/requests", json.dumps(request))
        alice = json.loads(mqtt.wait("smartcab/reports/results/z-alice", timeout=60)[0].payload)
        bob = json.loads(mqtt.wait("smartcab/reports/results/z-bob", timeout=60)[0].payload)
        start, end = _midnights(7)
        assert alice["ok"] and alice["period"] == {"start": start, "end": end}
        assert f"(7 days, {ZONE})" in pdftools.text(data / alice["file"])
        # bob chose no zone of his own: the deployment's
        assert bob["period"]["start"].endswith("T00:00:00+05:30")  # Kolkata keeps no summer time
        assert "(1 day, Asia/Kolkata)" in pdftools.text(data / bob["file"])

        mqtt.publish("smartcab/reports/jobs/weekly", json.dumps({"week": "2026-W10"}))
        weekly = mqtt.wait("smartcab/reports/doctors/D100/alice.weekly-2026-W10", timeout=60)
        # Monday 2 March 2026, 00:00 in Kiritimati
        assert json.loads(weekly[0].payload)["period"] == {
            "start": "2026-03-02T00:00:00+14:00",
            "end": "2026-03-09T00:00:00+14:00",
        }
    assert reporter.stop() == 0

    out = tmp_path / "alice.pdf"
    env = {**os.environ, "SMARTCAB_DATA_DIR": str(data), "REPORT_TIMEZONE": "UTC"}
    env |= influxdb.env()
    done = subprocess.run(
        [sys.executable, "-m", "services.reporter", "render", "--patient", "alice",
         "--days", "3", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"(3 days, {ZONE})" in pdftools.text(out)
