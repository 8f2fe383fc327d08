"""The reporter on a real InfluxDB and Mosquitto: CLI files, MQTT requests, access, weekly jobs."""

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from services.common.influx import InfluxClient, InfluxSettings
from services.reporter.protocol import last_days, previous_week
from tests.support import pdf as pdftools
from tests.support.mqtt import TopicLog
from tests.support.net import free_port
from tests.support.reports import PATIENT_NAME, history_lines, make_people
from tests.support.services import ROOT

RESULTS = "smartcab/reports/results/{}"


@pytest.fixture
def history(tmp_path, influxdb):
    """A week of alice's history every 5 minutes, bob's one reading, and the web's database."""
    data = tmp_path / "data"
    make_people(data)
    with InfluxClient(InfluxSettings(url=influxdb.url)) as client:
        client.ensure_database()
        lines = history_lines("alice", 8, datetime.now(UTC), every_s=300)
        lines.append(
            "vitals,device=wch-b,metric=heart_rate,patient=bob flagged=false,value=55"
            f" {int(datetime.now(UTC).timestamp() * 1000) - 60_000}"
        )
        client.write(lines)
    return data


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.reporter", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        timeout=90,
    )


def week() -> str:
    """The report's 7 whole UTC days as an InfluxQL time condition."""
    period = last_days(7, UTC)
    return f"time >= '{period.start.isoformat()}' AND time < '{period.end.isoformat()}'"


def stats(influxdb, metric: str) -> dict:
    rows = influxdb.rows(
        'SELECT count("value") AS "count", min("value") AS "min", max("value") AS "max"'
        f" FROM vitals WHERE patient = 'alice' AND metric = '{metric}' AND flagged = false"
        f" AND {week()}"
    )
    return rows[0]


def test_cli_renders_a_report_with_every_section(history, influxdb, tmp_path):
    out = tmp_path / "alice.pdf"
    env = {**influxdb.env(), "SMARTCAB_DATA_DIR": str(history)}
    done = cli(env, "render", "--patient", "alice", "--days", "7", "--out", str(out))
    assert done.returncode == 0, done.stderr.decode()
    text = pdftools.text(out)
    assert f"{PATIENT_NAME} (alice)" in text
    assert "Devices" in text and "cab-a, wch-a" in text
    assert "Requested by" in text and "command line" in text
    # the numbers are InfluxDB's own, and flagged readings are counted apart
    hr = stats(influxdb, "heart_rate")
    flagged = influxdb.count(
        "SELECT count(value) FROM vitals WHERE patient = 'alice' AND metric = 'heart_rate'"
        f" AND flagged = true AND {week()}"
    )
    row = re.search(
        r"Heart rate\s+bpm\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+60–100\s+\d+ %\s+(\d+)", text
    )
    assert row, text[:3000]
    assert int(row[1]) == hr["count"]
    assert (int(row[2]), int(row[4])) == (round(hr["min"]), round(hr["max"]))
    assert int(row[5]) == flagged > 0
    temp = stats(influxdb, "temperature")
    assert re.search(rf"Body temperature\s+°C\s+{temp['count']}\s+{temp['min']:.1f}\s", text)
    for section in (
        "Vital signs",
        "Heart rate",
        "Blood pressure",
        "Alerts and early-warning score",
        "PARTIAL score, not clinically validated",
        "Blood test results",
        "Doctor's advice",
        "Doctor's note",
        "Questionnaire",
        "Habits",
        "Snacks taken from the cabinet",
    ):
        assert section in text, section
    assert re.search(r"HbA1c\s+6.1\s+%\s+4–5.6\s+high", text)
    assert re.search(r"Potassium\s+3.2\s+mmol/L\s+3.5–5.1\s+low", text)
    assert "HbA1c is above range" in text and "Dr Amara Okafor" in text
    assert "How many hours of sleep" in text and "About 7 hours." in text
    assert re.search(r"Sleep\s+\d\s+7.\d h", text)
    assert "Nutella" in text and "Pringles" in text and "Total" in text
    assert "no data recorded" not in text
    pages = pdftools.pages(out)
    assert f"Page {pages} of {pages}" in text
    assert pdftools.images(out) == 0  # charts are vectors, not pictures
    pngs = pdftools.to_png(out, "report-cli")
    assert len(pngs) == pages and all(p.stat().st_size > 10_000 for p in pngs)


def test_cli_exports_csv_and_a_fhir_bundle(history, influxdb, tmp_path):
    env = {**influxdb.env(), "SMARTCAB_DATA_DIR": str(history)}
    start, end = "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z"
    out = tmp_path / "alice.csv"
    done = cli(env, "export", "--format", "csv", "--patient", "alice", "--start", start,
               "--end", end, "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    total = influxdb.count("SELECT count(value) FROM vitals WHERE patient = 'alice'")
    assert len(rows) == total and {r["patient"] for r in rows} == {"alice"}
    assert rows == sorted(rows, key=lambda r: r["time"])
    assert {r["flagged"] for r in rows} == {"yes", "no"}
    assert {(r["metric"], r["unit"], r["loinc"]) for r in rows} >= {
        ("heart_rate", "bpm", "8867-4"),
        ("temperature", "°C", "8310-5"),
    }
    out = tmp_path / "alice.fhir.json"
    done = cli(env, "export", "--format", "fhir", "--patient", "alice", "--days", "2",
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    bundle = Bundle.model_validate_json(out.read_bytes())
    kinds = {c.code for e in bundle.entry[1:] for c in e.resource.code.coding}
    assert kinds == {"8867-4", "8310-5", "59408-5", "2708-6", "85354-9"}
    absent = [e.resource for e in bundle.entry[1:] if e.resource.dataAbsentReason]
    assert absent and all(o.valueQuantity is None for o in absent)
    assert bundle.entry[0].resource.name[0].text == PATIENT_NAME
    missing = cli(env, "render", "--patient", "nobody", "--out", str(tmp_path / "x.pdf"))
    assert missing.returncode == 1 and b"no enabled patient" in missing.stdout


def test_an_export_larger_than_allowed_is_refused_not_cut_short(history, influxdb, monkeypatch):
    from services.reporter import documents, influxdata
    from services.reporter.errors import BadRequest
    from services.reporter.model import Patient
    from services.reporter.settings import Settings

    settings = Settings.from_env({**influxdb.env(), "SMARTCAB_DATA_DIR": str(history)})
    patient = Patient("alice", PATIENT_NAME)
    period = last_days(7, UTC)
    with InfluxClient(InfluxSettings(url=influxdb.url)) as client:
        whole = influxdata.readings(client, "alice", period.start, period.end)
        monkeypatch.setattr(influxdata, "EXPORT_PAGE", 97)  # pages end all over the place
        assert influxdata.readings(client, "alice", period.start, period.end) == whole
        monkeypatch.setattr(influxdata, "EXPORT_MAX_ROWS", len(whole) - 1)
        with pytest.raises(BadRequest, match=f"more than {len(whole) - 1:,} readings; ask for"):
            documents.produce(settings, client, None, patient, period, "csv", "alice")


def ask(mqtt: TopicLog, request_id: str, requester: tuple[str, str], patient: str, **extra):
    body = {
        "id": request_id,
        "requester": {"role": requester[0], "id": requester[1]},
        "patient": patient,
        "period": {"days": 7},
        **extra,
    }
    before = len(mqtt.on(RESULTS.format(request_id)))
    mqtt.publish("smartcab/reports/requests", json.dumps(body))
    return result(mqtt, request_id, before + 1)


def result(mqtt: TopicLog, request_id: str, nth: int = 1) -> dict:
    """The ``nth`` result announced for ``request_id``."""
    found = mqtt.wait(RESULTS.format(request_id), count=nth, timeout=60)
    return json.loads(found[nth - 1].payload)


def test_requests_over_mqtt_are_served_only_to_the_patient_and_shared_doctors(
    history, make_reporter, broker
):
    reporter = make_reporter()
    reporter.wait_log("mqtt.connected")
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        own = ask(mqtt, "own-1", ("patient", "alice"), "alice")
        assert own["ok"] is True and own["format"] == "pdf", own
        stored = history / own["file"]
        assert stored == history / "reports" / "alice" / "own-1.pdf"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == own["sha256"]
        assert stored.stat().st_size == own["size"]
        assert json.loads(stored.with_suffix(".json").read_text())["sha256"] == own["sha256"]
        doctor = ask(mqtt, "dr-1", ("doctor", "D100"), "alice", format="csv")
        assert doctor["ok"] is True and doctor["media_type"] == "text/csv"
        assert (history / doctor["file"]).read_text().startswith("time,patient,device,metric")

        refused = {
            "no-share": ask(mqtt, "no-share", ("doctor", "D200"), "alice"),
            "other-patient": ask(mqtt, "other-patient", ("patient", "bob"), "alice"),
            "unknown": ask(mqtt, "unknown", ("doctor", "D100"), "nobody"),
            "no-doctor": ask(mqtt, "no-doctor", ("doctor", "D999"), "alice"),
        }
        for request_id, answer in refused.items():
            assert answer["ok"] is False and answer["error"] == "forbidden", request_id
            assert not (history / "reports" / "alice" / f"{request_id}.pdf").exists()
        assert "share" in refused["no-share"]["reason"]
        assert "own reports" in refused["other-patient"]["reason"]

        audit = [json.loads(p) for p in mqtt.payloads("smartcab/reports/audit")]
        seen = {(a["actor"]["id"], a["request"], a["ok"]) for a in audit}
        assert seen == {
            ("D100", "dr-1", True),
            ("D200", "no-share", False),
            ("bob", "other-patient", False),
            ("D100", "unknown", False),
            ("D999", "no-doctor", False),
        }
        assert all(a["action"].startswith("report.") and a["patient"] for a in audit)
        assert mqtt.wait("smartcab/reports/progress/own-1")

        again = ask(mqtt, "own-1", ("patient", "alice"), "alice")
        assert again["sha256"] == own["sha256"] and again["created"] == own["created"]
        reporter.wait_log("event=reporter.again")
        stolen = ask(mqtt, "own-1", ("doctor", "D100"), "alice")
        assert stolen["ok"] is False and "another request" in stolen["reason"]
    assert reporter.stop() == 0
    assert "event=reporter.stopping" in reporter.log_text()


def test_malformed_requests_get_a_clear_error_and_the_service_keeps_running(
    history, make_reporter, broker
):
    reporter = make_reporter()
    reporter.wait_log("mqtt.connected")
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        mqtt.publish("smartcab/reports/requests", b"\xff{not json")
        junk = result(mqtt, "_invalid")
        assert junk["ok"] is False and junk["error"] == "bad_request"
        assert "not JSON" in junk["reason"]
        bad = ask(mqtt, "bad-format", ("patient", "alice"), "alice", format="docx")
        assert bad == {
            "id": "bad-format",
            "ok": False,
            "error": "bad_request",
            "reason": "format must be one of pdf, csv, fhir, doses",
        }
        bad = ask(mqtt, "bad-days", ("patient", "alice"), "alice", period={"days": 5000})
        assert "period.days" in bad["reason"]
        # Both once raised OverflowError where nothing answered the request: no result at all.
        before_year_one = {"start": "0001-01-01T00:00:00+14:00", "end": "2026-01-01T00:00:00Z"}
        for request_id, period in (
            ("bad-start", before_year_one),
            ("bad-week", {"week": "9999-W52"}),
        ):
            bad = ask(mqtt, request_id, ("patient", "alice"), "alice", period=period)
            assert bad["error"] == "bad_request" and "years 1 to 9999" in bad["reason"], bad
        fine = ask(mqtt, "fine", ("patient", "alice"), "alice", format="fhir")
        assert fine["ok"] is True and fine["file"].endswith("fine.fhir.json")
        Bundle.model_validate_json((history / fine["file"]).read_bytes())
        assert reporter.proc.poll() is None
    reporter.wait_log("event=reporter.bad_request")
    assert reporter.stop() == 0


def test_the_scheduler_asks_for_weekly_reports_delivered_to_each_shared_doctor(
    history, make_reporter, make_scheduler, broker
):
    reporter = make_reporter()
    reporter.wait_log("mqtt.connected")
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        make_scheduler(SCHEDULER_REPORT_INTERVAL="0.5")
        week = previous_week()
        delivered = mqtt.wait(f"smartcab/reports/doctors/D100/alice.weekly-{week}", timeout=60)
        body = json.loads(delivered[0].payload)
        assert body["ok"] and body["kind"] == "weekly" and body["doctor"] == "D100"
        assert body["requester"] == {"role": "scheduler", "id": "weekly"}
        text = pdftools.text(history / body["file"])
        assert "weekly report" in text and PATIENT_NAME in text
        reporter.wait_log("event=reporter.weekly_done", timeout=30)
        mqtt.wait("smartcab/reports/jobs/weekly", count=3, timeout=30)
    # rendered once, delivered once, however often the scheduler asks; bob shares with nobody
    assert reporter.log_text().count("event=reporter.stored") == 1
    assert len(mqtt.on("smartcab/reports/doctors/#")) == 1
    assert not (history / "reports" / "bob").exists()
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/doctors/D100/#",)) as late:
        retained = late.wait("smartcab/reports/doctors/D100/+")
        assert retained[0].retain and json.loads(retained[0].payload)["sha256"] == body["sha256"]
    assert not list(Path(history / "reports" / "alice").glob(".*.tmp"))


def test_missing_web_database_or_history_is_reported_not_fatal(tmp_path, make_reporter, broker):
    reporter = make_reporter(INFLUX_URL=f"http://127.0.0.1:{free_port()}", INFLUX_TIMEOUT="1")
    reporter.wait_log("mqtt.connected")
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        nobody = ask(mqtt, "no-db", ("patient", "alice"), "alice")
        assert nobody["ok"] is False and nobody["error"] == "directory_unavailable"
        make_people(tmp_path / "data")
        down = ask(mqtt, "no-influx", ("patient", "alice"), "alice")
        assert down["ok"] is False and down["error"] == "history_unavailable"
        assert "could not be read" in down["reason"]
        assert reporter.proc.poll() is None
    assert reporter.stop() == 0
