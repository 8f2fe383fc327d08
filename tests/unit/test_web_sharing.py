"""Sharing over HTTP: grant and revoke by Dr_ID, access log, doctor's home, admin log."""

import json
import time

import pyotp

from services.web import db as schema


def test_grant_view_revoke_and_the_access_log(app, auth):
    auth.make_patient(app, "alice")
    _, secret = auth.make_doctor(app)
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    token = auth.csrf(patient, "/p/alice/sharing")
    unknown = patient.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "D999"})
    assert unknown.status_code == 400 and "No doctor has that Dr_ID" in unknown.text
    granted = patient.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "d100"})
    assert granted.status_code == 302
    page = patient.get("/p/alice/sharing").text
    assert "Dr. Grace Tan (D100) can now see your health data." in page
    again = patient.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "D100"})
    assert again.status_code == 302
    page = patient.get("/p/alice/sharing").text
    assert "could already see your health data; nothing changed." in page
    assert "can now see" not in page, "only a new share says so"

    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    assert doctor.get("/p/alice/report").status_code == 200
    assert doctor.get("/api/p/alice/record").status_code == 200

    log = patient.get("/p/alice/access-log").text
    rows = log.split('id="access-log"', 1)[1]
    # One line for the doctor's visit (a page and its data), in words; no raw URL or action.
    assert "Dr. Grace Tan <code>D100</code>" in rows and "Viewed your health report" in rows
    assert rows.count("Viewed your health report") == 1
    assert "Shared your data with Dr. Grace Tan (D100)" in rows
    assert ">/p/alice/report<" not in rows and ">share.grant D100<" not in rows

    doctor_row = page.split('name="doctor" value="')[1].split('"')[0]
    revoked = patient.post(
        "/p/alice/sharing/revoke", data={"csrf_token": token, "doctor": doctor_row}
    )
    assert revoked.status_code == 302
    # Revocation is immediate: the very next request is refused.
    assert doctor.get("/p/alice/report").status_code == 403
    assert doctor.get("/api/p/alice/record").status_code == 403
    assert "alice" not in doctor.get("/doctor").text
    again = patient.post(
        "/p/alice/sharing/revoke", data={"csrf_token": token, "doctor": doctor_row}
    )
    assert again.status_code == 400
    assert "Removed access for Dr. Grace Tan (D100)" in patient.get("/p/alice/access-log").text


def test_patients_cannot_share_someone_elses_data(app, auth):
    auth.make_patient(app, "alice")
    auth.make_patient(app, "bob")
    auth.make_doctor(app)
    bob = app.test_client()
    auth.sign_in_patient(bob, "bob")
    token = auth.csrf(bob, "/p/bob/sharing")
    assert (
        bob.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "D100"}).status_code == 403
    )
    assert bob.get("/p/alice/access-log").status_code == 403
    no_csrf = bob.post("/p/bob/sharing", data={"dr_id": "D100"})
    assert no_csrf.status_code == 403


def test_doctor_home_shows_what_changed_since_the_last_visit(app, auth):
    auth.make_patient(app, "alice")
    _, secret = auth.make_doctor(app)
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    token = auth.csrf(patient, "/p/alice/sharing")
    patient.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "D100"})
    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    home = doctor.get("/doctor").text
    assert 'data-patient-card="alice"' in home and "First visit" in home
    assert "Vitals unavailable" in home, "no InfluxDB here: said, not a crash"
    doctor.get("/p/alice")
    conn = schema.connect(app.config["DATABASE"])
    try:  # that visit, and its sign-in, happened a while ago
        conn.execute("UPDATE audit SET at = at - 100")
        conn.execute("UPDATE sessions SET created_at = created_at - 200")
    finally:
        conn.close()
    # Opening her pages during this visit is not a previous visit: still the first.
    assert "First visit" in doctor.get("/doctor").text
    doctor.post("/logout", data={"csrf_token": auth.csrf(doctor, "/doctor")})
    # One day of habits (two of them typed in), one answer.
    patient.post(
        "/p/alice/habits", data={"csrf_token": token, "day": _today(), "sleep": "8", "water": "6"}
    )
    patient.post(
        "/p/alice/questionnaire", data={"csrf_token": token, "sleep": "ok", "action": "submit"}
    )
    # A weekly report the reporter stored (docs/reports.md: the file and its result beside it).
    folder = app.config["SETTINGS"].data_dir / "reports" / "alice"
    folder.mkdir(parents=True)
    (folder / "weekly-2026-W47.pdf").write_bytes(b"%PDF-1.4 weekly")
    result = {"id": "weekly-2026-W47", "ok": True, "patient": "alice", "format": "pdf",
              "media_type": "application/pdf", "created": "2026-11-23T01:00:00+00:00",
              "file": "reports/alice/weekly-2026-W47.pdf"}  # fmt: skip
    (folder / "weekly-2026-W47.json").write_text(json.dumps(result))
    # The next visit counts from the previous one, however often the list is opened.
    # each code works once: the next step's code (accepted too) signs in again
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).at(time.time() + 30))
    home = doctor.get("/doctor").text
    assert "Habits logged for 1 day<" in home and "1 new questionnaire answer<" in home
    doctor.get("/p/alice/habits")  # looking at them during this visit changes nothing
    assert "Habits logged for 1 day<" in doctor.get("/doctor").text
    conn = schema.connect(app.config["DATABASE"])
    try:
        homes = conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'doctor_home'")
        assert homes.fetchone()[0] == 5  # every look at the list, each audited
    finally:
        conn.close()
    assert "Saw your latest readings and alerts" in patient.get("/p/alice/access-log").text
    assert "/p/alice/reports/weekly-2026-W47" in home
    weekly = doctor.get("/p/alice/reports/weekly-2026-W47")
    assert weekly.status_code == 200 and weekly.get_data() == b"%PDF-1.4 weekly"
    weekly.close()


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()


def test_a_doctors_visit_is_one_line_naming_what_they_looked_at(app, auth):
    auth.make_patient(app, "alice")
    _, secret = auth.make_doctor(app)
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    token = auth.csrf(patient, "/p/alice/sharing")
    patient.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "D100"})
    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    for path in ("/p/alice", "/p/alice/monitoring", "/api/p/alice/record", "/p/alice/habits"):
        for _ in range(3):
            doctor.get(path)
    conn = schema.connect(app.config["DATABASE"])
    try:  # twelve requests spread over a quarter of an hour, a minute or so apart
        ids = [r[0] for r in conn.execute("SELECT id FROM audit ORDER BY id")]
        for i, row_id in enumerate(ids[-12:]):
            conn.execute("UPDATE audit SET at = at - ? WHERE id = ?", (900 - i * 75, row_id))
    finally:
        conn.close()
    rows = patient.get("/p/alice/access-log").text.split('id="access-log"', 1)[1]
    assert rows.count('<tr class="r-doctor"') == 1
    # the data requests belong to the pages they were made for: not a line of their own
    assert "Opened your home page, viewed your health monitoring and viewed your habits" in rows
    assert "<time" in rows and 'data-format="clock"' in rows  # from when to when
