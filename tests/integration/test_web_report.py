"""Download as PDF and Export report through the real reporter, and who may download."""

import pyotp
import pytest

from services.web import access, create_app, start_background, stop_background
from services.web import db as schema
from services.web.settings import Settings
from tests.support.net import wait_until


@pytest.fixture
def report_app(tmp_path, broker, influxdb):
    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "data"), **broker.env(), **influxdb.env()}
    app = create_app({"TESTING": True}, settings=Settings.from_env(env))
    start_background(app)
    assert app.extensions["smartcab.hub"].client.wait_subscribed(10)
    yield app
    stop_background(app)


def _ask(auth, client, fmt: str) -> dict:
    token = auth.csrf(client, "/p/alice/report")
    asked = client.post(
        "/api/p/alice/reports", json={"format": fmt, "days": 7}, headers={"X-CSRF-Token": token}
    )
    assert asked.status_code == 202 and asked.json["stage"] == "sent"
    path = f"/api/p/alice/reports/{asked.json['id']}"
    return wait_until(
        lambda: (s := client.get(path).json).get("stage") == "done" and s,
        timeout=30,
        what=f"{fmt} report done",
    )


def _download(client, url: str):
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def test_reports_are_made_followed_and_served_to_the_right_people(
    report_app, influxdb, make_reporter, mqtt_log, auth
):
    alice, doctor, secret = auth.make_shared(report_app)
    auth.make_patient(report_app, "bob")
    influxdb.query("CREATE DATABASE vitals")  # what the recorder does on its first start
    make_reporter()
    mqtt_log.wait(
        "smartcab/services/reporter/status", where=lambda m: m.payload == b"online", timeout=20
    )
    patient = report_app.test_client()
    auth.sign_in_patient(patient, "alice")
    done = _ask(auth, patient, "pdf")
    assert done["ok"] is True and done["format"] == "pdf", done
    pdf = _download(patient, done["url"])
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Cache-Control"] == "no-store"
    assert "attachment" in pdf.headers["Content-Disposition"]
    # the same security headers as every page: a PDF is health data too
    assert "frame-ancestors 'none'" in pdf.headers["Content-Security-Policy"]
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    assert pdf.headers["Referrer-Policy"] == "no-referrer"
    csv = _ask(auth, patient, "csv")
    assert _download(patient, csv["url"]).data.startswith(b"time,patient,device,metric")
    doses = _ask(auth, patient, "doses")  # the medication record: one row per scheduled dose
    assert doses["ok"] is True and doses["format"] == "doses", doses
    assert _download(patient, doses["url"]).data.startswith(b"patient,medication,cabinet_item")
    listed = patient.get("/p/alice/report").text
    assert "PDF report" in listed and "CSV export" in listed and "Doses CSV" in listed

    doc = report_app.test_client()
    auth.sign_in_doctor(doc, pyotp.TOTP(secret).now())
    fhir = _ask(auth, doc, "fhir")
    assert _download(doc, fhir["url"]).status_code == 200
    assert _download(doc, done["url"]).status_code == 200
    # The reporter's own audit message for the doctor's request lands in the audit table.
    wait_until(lambda: _audited(report_app, "report.fhir made"), what="reporter audit stored")
    assert "Report service: FHIR made" in patient.get("/p/alice/access-log").text
    conn = schema.connect(report_app.config["DATABASE"])
    try:
        actions = {
            r[0] for r in conn.execute("SELECT action FROM audit WHERE actor_id = ?", (doctor.id,))
        }
        access.unshare(conn, alice.id, doctor.id)
    finally:
        conn.close()
    assert {"report_request", "report_status", "report_download"} <= actions
    assert _download(doc, done["url"]).status_code == 403, "revoked: the file is refused at once"

    bob = report_app.test_client()
    auth.sign_in_patient(bob, "bob")
    assert bob.get(done["url"]).status_code == 403
    assert bob.get(done["url"].replace("/alice/", "/bob/")).status_code == 404
    assert bob.get(f"/api/p/bob/reports/{done['id']}").status_code == 404
    bad = patient.post(
        "/api/p/alice/reports",
        json={"format": "docx", "days": 7},
        headers={"X-CSRF-Token": auth.csrf(patient)},
    )
    assert bad.status_code == 400


def _audited(app, action: str) -> bool:
    conn = schema.connect(app.config["DATABASE"])
    try:
        row = conn.execute(
            "SELECT path FROM audit WHERE action = ? AND path = 'reporter'", (action,)
        ).fetchone()
    finally:
        conn.close()
    return row is not None
