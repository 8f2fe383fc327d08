"""The care circle, carers and the alert page over HTTP: a real app, database and SMTP server."""

import re

import pyotp
import pytest

from services.common import carecircle
from services.web import create_app, stop_background
from services.web import db as schema
from services.web.settings import Settings
from tests.support.net import free_port
from tests.support.notify import make_alert
from tests.support.smtp import SmtpSink

CARER_PW = "kettle lantern meadow 9"


@pytest.fixture
def sink():
    with SmtpSink() as server:
        yield server


@pytest.fixture
def app(tmp_path, sink):
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
        "WEB_LIVE": "0",
        "WEB_BASE_URL": "https://health.example",
        **sink.env(),
    }
    application = create_app({"TESTING": True}, settings=Settings.from_env(env))
    yield application
    stop_background(application)


@pytest.fixture
def db(app):
    conn = schema.connect(app.config["DATABASE"])
    yield conn
    conn.close()


def _patient(auth, app, username="alice"):
    auth.make_patient(app, username)
    client = app.test_client()
    auth.sign_in_patient(client, username)
    return client, auth.csrf(client, f"/p/{username}/care-circle")


def _doctor(auth, app, patient_client, token, username="alice"):
    _, secret = auth.make_doctor(app)
    patient_client.post(f"/p/{username}/sharing", data={"csrf_token": token, "dr_id": "D100"})
    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    return doctor


def _add(client, token, **fields):
    data = {
        "csrf_token": token,
        "name": "Carol",
        "channel": "carol@example.org",
        "levels": ["warning", "critical"],
        "timezone": "Europe/London",
        "tier": "1",
        **fields,
    }
    return client.post("/p/alice/care-circle", data=data)


def _alert(db, patient="alice", level="critical"):
    alert = make_alert(level=level, patient=patient)
    alert_id = "a" + str(alert["ts_ms"])
    carecircle.insert_notification(db, alert_id, alert, alert["ts_ms"] / 1000)
    return alert_id


def test_patient_adds_edits_tests_and_removes_a_contact(auth, app, db):
    client, token = _patient(auth, app)
    assert _add(client, token).status_code == 302
    bad = _add(client, token, channel="not a channel")
    assert bad.status_code == 400 and "email address or a notification URL" in bad.text
    assert _add(client, token, levels=["loud"]).status_code == 400
    assert _add(client, token, timezone="Mars/Olympus").status_code == 400
    assert _add(client, token, quiet_start="22:00").status_code == 400
    page = client.get("/p/alice/care-circle").text
    assert "c…@example.org" in page and "carol@example.org" not in page  # masked
    assert "Europe/London" in page and "Care circle" in page
    (contact,) = carecircle.contacts(db, "alice")
    edit = client.post(
        f"/p/alice/care-circle/{contact.id}/edit",
        data={
            "csrf_token": token,
            "name": "Carol B",
            "levels": ["critical"],
            "tier": "2",
            "quiet_start": "22:00",
            "quiet_end": "07:00",
            "timezone": "UTC",
            "notify_clear": "1",
        },
    )
    assert edit.status_code == 302
    (changed,) = carecircle.contacts(db, "alice")
    assert (changed.name, changed.levels, changed.tier, changed.channel) == (
        "Carol B",
        frozenset({"critical"}),
        2,
        "carol@example.org",
    )
    assert changed.quiet_start == "22:00" and changed.notify_clear
    test = client.post(f"/p/alice/care-circle/{contact.id}/test", data={"csrf_token": token})
    assert test.status_code == 302
    assert [d["status"] for d in carecircle.recent_deliveries(db, "alice")] == ["pending"]
    db.execute("UPDATE deliveries SET status = 'retrying', attempts = 2, last_error = 'HTTP 500'")
    page = client.get("/p/alice/care-circle").text
    assert "retrying" in page and "HTTP 500" in page  # a failing channel is visible
    removed = client.post(f"/p/alice/care-circle/{contact.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 302 and carecircle.contacts(db, "alice") == []
    log = client.get("/p/alice/access-log").text
    # one visit, its changes in one line
    assert "Added Carol to your care circle" in log
    assert "removed Carol B from your care circle" in log


def test_a_contact_chooses_dose_reminders_and_what_they_say(auth, app, db):
    client, token = _patient(auth, app)
    # reminders only, no alert levels: the patient's own phone
    assert _add(client, token, name="My phone", levels=[], reminders="named").status_code == 302
    assert _add(client, token, levels=[]).status_code == 400  # neither alerts nor reminders
    assert _add(client, token, reminders="everything").status_code == 400
    (phone,) = carecircle.contacts(db, "alice")
    assert (phone.reminders, phone.levels) == ("named", frozenset())
    page = client.get("/p/alice/care-circle").text
    assert "dose reminders with the medicine" in page and "Dose reminders" in page
    edit = client.post(
        f"/p/alice/care-circle/{phone.id}/edit",
        data={"csrf_token": token, "levels": ["critical"], "timezone": "UTC", "reminders": "dose"},
    )
    assert edit.status_code == 302
    assert carecircle.contact(db, phone.id).reminders == "dose"
    client.post(
        f"/p/alice/care-circle/{phone.id}/edit",
        data={"csrf_token": token, "levels": ["critical"], "timezone": "UTC", "reminders": ""},
    )
    assert carecircle.contact(db, phone.id).reminders == ""


def test_forged_and_foreign_requests_are_refused(auth, app, db):
    client, token = _patient(auth, app)
    _add(client, token)
    (contact,) = carecircle.contacts(db, "alice")
    assert (
        client.post("/p/alice/care-circle", data={"name": "X", "channel": "x@y.org"}).status_code
        == 403
    )
    bob, bob_token = _patient(auth, app, "bobby")
    assert _add(bob, bob_token).status_code == 403  # alice's circle, bob's session
    for path in ("test", "remove", "edit"):
        assert (
            bob.post(
                f"/p/alice/care-circle/{contact.id}/{path}", data={"csrf_token": bob_token}
            ).status_code
            == 403
        )
        # bob's own circle does not hold alice's contact
        assert (
            bob.post(
                f"/p/bobby/care-circle/{contact.id}/{path}",
                data={"csrf_token": bob_token, "tier": "1", "levels": "warning"},
            ).status_code
            == 404
        )
    assert bob.get("/p/alice/care-circle").status_code == 403
    assert len(carecircle.contacts(db, "alice")) == 1


def test_doctor_sees_the_circle_read_only_and_adds_themselves(auth, app, db):
    client, token = _patient(auth, app)
    _add(client, token)
    doctor = _doctor(auth, app, client, token)
    page = doctor.get("/p/alice/care-circle")
    assert page.status_code == 200 and "Carol" in page.text and "Send a test" not in page.text
    dtoken = auth.csrf(doctor, "/p/alice/care-circle")
    assert _add(doctor, dtoken).status_code == 403  # read-only for the doctor
    (contact,) = carecircle.contacts(db, "alice")
    assert (
        doctor.post(
            f"/p/alice/care-circle/{contact.id}/remove", data={"csrf_token": dtoken}
        ).status_code
        == 403
    )
    me = doctor.post(
        "/p/alice/care-circle/me",
        data={
            "csrf_token": dtoken,
            "channel": "json://127.0.0.1:9/dr",
            "levels": "critical",
            "tier": "2",
        },
    )
    assert me.status_code == 302
    mine = [c for c in carecircle.contacts(db, "alice") if c.name == "Dr. Grace Tan"]
    assert mine and mine[0].tier == 2 and mine[0].levels == {"critical"}
    left = doctor.post(f"/p/alice/care-circle/{contact.id}/leave", data={"csrf_token": dtoken})
    assert left.status_code == 403  # not the doctor's own contact
    assert (
        doctor.post(
            f"/p/alice/care-circle/{mine[0].id}/leave", data={"csrf_token": dtoken}
        ).status_code
        == 302
    )
    assert "Added themselves to your care circle" in client.get("/p/alice/access-log").text


def test_alert_page_acknowledge_and_who_may_see_it(auth, app, db):
    client, token = _patient(auth, app)
    _add(client, token)
    doctor = _doctor(auth, app, client, token)
    alert_id = _alert(db)
    (contact,) = carecircle.contacts(db, "alice")
    carecircle.add_delivery(db, alert_id, contact.id, 0, 1.0)
    page = doctor.get(f"/alerts/{alert_id}")
    # stored in the old words, shown in the metric table's
    assert page.status_code == 200 and "Heart rate 35 bpm is below 40 bpm" in page.text
    assert "Carol" in page.text and "Acknowledge" in page.text
    dtoken = auth.csrf(doctor, f"/alerts/{alert_id}")
    assert doctor.post(f"/alerts/{alert_id}/ack").status_code == 403  # no CSRF token
    bob, bob_token = _patient(auth, app, "bobby")
    assert bob.get(f"/alerts/{alert_id}").status_code == 403
    assert bob.post(f"/alerts/{alert_id}/ack", data={"csrf_token": bob_token}).status_code == 403
    assert bob.get("/alerts/nope").status_code == 404
    assert app.test_client().get(f"/alerts/{alert_id}").status_code == 302  # sign in first
    assert carecircle.notification(db, alert_id)["acked_at"] is None
    acked = doctor.post(f"/alerts/{alert_id}/ack", data={"csrf_token": dtoken})
    assert acked.status_code == 302
    row = carecircle.notification(db, alert_id)
    assert row["acked_by"] == "D100"
    assert carecircle.deliveries(db, alert_id)[0]["status"] == "cancelled"
    assert "Acknowledged by <b>Dr. Grace Tan (doctor)</b>" in doctor.get(f"/alerts/{alert_id}").text
    assert "acknowledged by Dr. Grace Tan (doctor)" in client.get("/p/alice").text
    assert "acknowledged by Dr. Grace Tan (doctor)" in doctor.get("/doctor").text
    log = client.get("/p/alice/access-log").text
    assert "Acknowledged an alert" in log and "Was refused an alert" in log
    # revoked: the doctor's next look is refused
    doctor_id = db.execute("SELECT id FROM users WHERE dr_id = 'D100'").fetchone()[0]
    client.post("/p/alice/sharing/revoke", data={"csrf_token": token, "doctor": doctor_id})
    assert doctor.get(f"/alerts/{alert_id}").status_code == 403


def test_deliveries_show_in_the_access_log(auth, app, db):
    client, token = _patient(auth, app)
    _add(client, token)
    (contact,) = carecircle.contacts(db, "alice")
    alert_id = _alert(db)
    carecircle.add_delivery(db, alert_id, contact.id, 0, 1.0)
    (delivery,) = carecircle.deliveries(db, alert_id)
    carecircle.mark_sent(db, [delivery["id"]], 2.0)
    carecircle.add_delivery(db, alert_id, contact.id, 1, 3.0)
    second = carecircle.deliveries(db, alert_id)[1]
    carecircle.mark_failed(db, second["id"], "connection refused", None)
    log = client.get("/p/alice/access-log").text
    assert "Sent Carol a notification" in log
    assert "gave up notifying Carol" in log and "connection refused" in log


def test_carer_is_invited_signs_up_sees_acks_and_is_revoked(auth, app, db, sink):
    client, token = _patient(auth, app)
    _add(client, token)
    (contact,) = carecircle.contacts(db, "alice")
    invited = client.post(f"/p/alice/care-circle/{contact.id}/invite", data={"csrf_token": token})
    assert invited.status_code == 302
    message = sink.wait()
    assert message["To"] == "carol@example.org"
    link = re.search(r"https://health\.example(/carer/invite/\S+)", message.get_content())[1]
    stored = db.execute("SELECT token_hash FROM carer_invites").fetchone()[0]
    assert link.rsplit("/", 1)[1] not in stored  # only the hash is kept
    carer = app.test_client()
    assert carer.get(link).status_code == 200
    ctoken = auth.csrf(carer, link)
    joined = carer.post(
        link,
        data={
            "csrf_token": ctoken,
            "username": "carol",
            "password": CARER_PW,
            "password2": CARER_PW,
        },
    )
    assert joined.status_code == 302 and joined.headers["Location"].startswith("/carer")
    assert app.test_client().get(link).status_code == 404  # single use
    assert "Alice" in carer.get("/carer").text or "alice" in carer.get("/carer").text
    assert carer.get("/p/alice/monitoring").status_code == 200
    assert carer.get("/p/alice/care-circle").status_code == 200
    assert carer.get("/p/alice/sharing").status_code == 403  # the patient's own page
    assert carecircle.contacts(db, "alice")[0].id == contact.id
    alert_id = _alert(db)
    ack = carer.post(f"/alerts/{alert_id}/ack", data={"csrf_token": auth.csrf(carer, "/carer")})
    assert ack.status_code == 302
    assert "acknowledged by Carol (carer)" in client.get("/p/alice").text
    log = client.get("/p/alice/access-log").text
    assert "Carer Carol" in log and "Shared your data with carer carol" in log
    # the carer signs in again on the Users tab with email and user name
    again = app.test_client()
    assert (
        auth.sign_in_patient(
            again, "carol", password=CARER_PW, email="carol@example.org"
        ).status_code
        == 302
    )
    page = client.get("/p/alice/care-circle").text
    carer_id = re.search(r'name="carer" value="(\d+)"', page)[1]
    assert (
        client.post(
            "/p/alice/care-circle/carers/revoke", data={"csrf_token": token, "carer": carer_id}
        ).status_code
        == 302
    )
    assert carer.get("/p/alice/monitoring").status_code == 403
    assert carer.get(f"/alerts/{alert_id}").status_code == 403
    assert "Removed access for carer carol" in client.get("/p/alice/access-log").text


def test_an_expired_invitation_is_refused(auth, app, db, sink):
    client, token = _patient(auth, app)
    _add(client, token)
    (contact,) = carecircle.contacts(db, "alice")
    client.post(f"/p/alice/care-circle/{contact.id}/invite", data={"csrf_token": token})
    link = re.search(r"https://health\.example(/carer/invite/\S+)", sink.wait().get_content())[1]
    db.execute("UPDATE carer_invites SET expires_at = 1")
    assert app.test_client().get(link).status_code == 404


def test_migration_keeps_users_and_their_shares(auth, tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = schema.connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    for _number, script in schema.MIGRATIONS[:2]:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (2)")
    conn.execute(
        "INSERT INTO users (id, role, username, display_name, password_hash, created_at)"
        " VALUES (1, 'patient', 'alice', 'alice', 'x', 0), (2, 'doctor', NULL, 'Tan', 'x', 0)"
    )
    conn.execute("INSERT INTO shares VALUES (1, 2, 0)")
    conn.close()
    assert schema.migrate(path) >= 3
    conn = schema.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM shares").fetchone()[0] == 1
    conn.execute(
        "INSERT INTO users (role, username, display_name, password_hash, created_at)"
        " VALUES ('carer', 'carol', 'Carol', 'x', 0)"
    )
    conn.close()
