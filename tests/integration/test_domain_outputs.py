"""The dashboard, the PDF report, the CSV and the FHIR export agree on every metric.

Real parts throughout: readings go over Mosquitto through the recorder into InfluxDB;
the web app draws the dashboard and asks the real reporter for the three files.
"""

import csv
import html
import io
import json
import re
import time

import pytest

from services.common import metrics
from services.common.topics import Topics, vitals_body
from services.web import create_app, devices, start_background, stop_background
from services.web import db as schema
from services.web.settings import Settings
from tests.support import pdf as pdftools
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until

DEVICE = "wch-a"
# one reading inside each usual range, so every output has something to show
VALUES = {"heart_rate": 72.0, "temperature": 36.8, "spo2": 97.0}
VALUES |= {"bp_systolic": 115.0, "bp_diastolic": 75.0}


@pytest.fixture
def web(tmp_path, broker, influxdb):
    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "data"), **broker.env(), **influxdb.env()}
    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    start_background(app)
    assert app.extensions["smartcab.hub"].client.wait_subscribed(10)
    yield app
    stop_background(app)


def _readings(auth, web, broker, influxdb, make_recorder) -> None:
    user, _ = auth.make_patient(web, "alice")
    conn = schema.connect(web.config["DATABASE"])
    try:
        devices.assign(conn, DEVICE, user.id)
    finally:
        conn.close()
    recorder = make_recorder()
    recorder.wait_log("mqtt.connected")
    topics = Topics()
    now = int(time.time() * 1000) - 60_000
    with TopicLog(broker.host, broker.port, topics=("smartcab/reports/#",)) as mqtt:
        mqtt.publish(topics.patient(DEVICE), "alice", retain=True)
        recorder.wait_log(DEVICE)
        for i, (metric, value) in enumerate(VALUES.items()):
            body = vitals_body(DEVICE, metric, value, now + i)
            mqtt.publish(topics.vitals(DEVICE, metric), json.dumps(body))
    wait_until(
        lambda: influxdb.count("SELECT count(value) FROM vitals WHERE patient = 'alice'") == 5,
        timeout=20,
        what="five readings of alice in InfluxDB",
    )


def _file(auth, client, fmt: str) -> bytes:
    token = auth.csrf(client, "/p/alice/report")
    asked = client.post(
        "/api/p/alice/reports", json={"format": fmt, "days": 7}, headers={"X-CSRF-Token": token}
    )
    assert asked.status_code == 202, asked.text
    path = f"/api/p/alice/reports/{asked.json['id']}"
    done = wait_until(
        lambda: (s := client.get(path).json).get("stage") == "done" and s,
        timeout=30,
        what=f"{fmt} report done",
    )
    response = client.get(done["url"])
    data = response.get_data()
    response.close()
    assert response.status_code == 200
    return data


def _fhir_shown(bundle: dict) -> dict[str, tuple[str, str, str]]:
    """metric key -> (label, range, unit) as the FHIR Observations carry them."""
    by_text = {m.label: m.key for m in metrics.METRICS}
    shown = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != "Observation":
            continue
        for part in resource.get("component", [resource]):
            key = by_text[part["code"]["text"]]
            (ref,) = part["referenceRange"]
            assert (ref["low"]["value"], ref["high"]["value"]) == metrics.BY_KEY[key].normal
            text = re.fullmatch(r"usual adult range (\S+) (.+)", ref["text"])
            assert text and text[2] == part["valueQuantity"]["unit"] == ref["low"]["unit"]
            shown[key] = (part["code"]["text"], text[1], part["valueQuantity"]["unit"])
    return shown


def test_dashboard_pdf_csv_and_fhir_show_the_same_label_range_and_unit(
    tmp_path, auth, web, broker, influxdb, make_recorder, make_reporter
):
    _readings(auth, web, broker, influxdb, make_recorder)
    make_reporter().wait_log("mqtt.connected")
    client = web.test_client()
    auth.sign_in_patient(client, "alice")
    expected = {m.key: (m.label, m.range_text, m.unit) for m in metrics.METRICS}

    page = html.unescape(client.get("/p/alice/monitoring").text)
    dashboard = {
        key: match.groups()
        for key, label in ((m.key, m.label) for m in metrics.METRICS)
        if (
            match := re.search(
                rf"({re.escape(label)}): usual adult range .*?>(.+?)</span> ([^<\s]+)<", page
            )
        )
    }
    for group in metrics.GROUPS:  # each card also shows the reading in the same unit
        value = "/".join(m.format(VALUES[m.key]) for m in group.metrics)
        assert re.search(rf'class="num">{re.escape(value)}</span> <span class="unit">'
                         rf"{re.escape(group.unit)}<", page), group.key  # fmt: skip

    pdf_path = tmp_path / "report.pdf"
    pdf_path.write_bytes(_file(auth, client, "pdf"))
    text = pdftools.text(pdf_path)
    report = {}
    for m in metrics.METRICS:
        row = re.search(rf"({re.escape(m.label)})\s+(\S+)\s+1\s+(?:\S+\s+){{3}}(\S+)\s+100 %", text)
        assert row, f"{m.label} row in the PDF"
        report[m.key] = (row[1], row[3], row[2])

    rows = list(csv.DictReader(io.StringIO(_file(auth, client, "csv").decode("utf-8"))))
    exported = {r["metric"]: (r["label"], r["normal_range"], r["unit"]) for r in rows}

    fhir = _fhir_shown(json.loads(_file(auth, client, "fhir")))

    assert dashboard == expected
    assert report == expected
    assert exported == expected
    assert fhir == expected
