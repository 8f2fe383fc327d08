"""The account page over HTTP: name, password, time zone, units, two-step sign-in for all."""

import re
import time

import pyotp

from services.common.medication import store
from services.web import db as schema


def _signed_in(app, auth):
    auth.make_patient(app)
    client = app.test_client()
    auth.sign_in_patient(client)
    return client, auth.csrf(client, "/account/")


def test_the_name_changes_and_a_bad_one_is_refused_at_its_field(app, auth):
    client, token = _signed_in(app, auth)
    done = client.post("/account/name", data={"csrf_token": token, "name": "  Alice   Tan "})
    assert done.status_code == 302
    page = client.get("/account/").text
    assert "Your name is now Alice Tan." in page and "Alice Tan <small>patient" in page
    bad = client.post("/account/name", data={"csrf_token": token, "name": ""})
    assert bad.status_code == 400 and 'id="error-name"' in bad.text
    assert "Alice Tan <small>patient" in client.get("/p/alice").text


def test_the_password_changes_only_with_the_current_one_and_signs_out_elsewhere(app, auth):
    client, token = _signed_in(app, auth)
    other = app.test_client()
    auth.sign_in_patient(other)
    new = "a brand new passphrase 9"
    wrong = client.post(
        "/account/password",
        data={"csrf_token": token, "current": "not it at all 1", "new": new, "confirm": new},
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    differ = client.post(
        "/account/password",
        data={"csrf_token": token, "current": auth.PATIENT_PW, "new": new, "confirm": new + "x"},
    )
    assert differ.status_code == 400 and "The two new passwords differ." in differ.text
    weak = client.post(
        "/account/password",
        data={"csrf_token": token, "current": auth.PATIENT_PW, "new": "short", "confirm": "short"},
    )
    assert weak.status_code == 400 and 'id="error-new"' in weak.text
    done = client.post(
        "/account/password",
        data={"csrf_token": token, "current": auth.PATIENT_PW, "new": new, "confirm": new},
    )
    assert done.status_code == 302
    assert (
        "Every other device where you were signed in is signed out." in client.get("/account/").text
    )
    assert other.get("/p/alice").status_code == 302  # signed out
    again = app.test_client()
    assert auth.sign_in_patient(again, password=new).status_code == 302


def test_time_zone_and_units_are_kept_and_used_where_values_are_shown(app, auth):
    client, token = _signed_in(app, auth)
    bad = client.post(
        "/account/settings",
        data={"csrf_token": token, "timezone": "Mars/Olympus", "temperature": "C"},
    )
    assert bad.status_code == 400 and "not a known time zone" in bad.text
    done = client.post(
        "/account/settings",
        data={
            "csrf_token": token,
            "timezone": "Asia/Singapore",
            "temperature": "F",
            "lab_units": "conventional",
        },
    )
    assert done.status_code == 302
    page = client.get("/account/").text
    assert "Times are shown in Asia/Singapore." in page
    assert 'value="F" checked' in page and 'value="conventional" checked' in page
    conn = schema.connect(app.config["DATABASE"])
    try:  # the medication schedule's own per-patient zone, reused
        assert store.timezone_of(conn, 1, "UTC") == "Asia/Singapore"
    finally:
        conn.close()
    monitoring = client.get("/p/alice/monitoring").text
    assert "Normal body temperature is about 97 to 99 °F." in monitoring
    assert 'data-tz="Asia/Singapore"' in monitoring
    table = re.search(r"data-metric-table='([^']+)'", monitoring)[1]
    assert '"unit": "\\u00b0F"' in table and '"scale": 1.8' in table
    habits = client.get("/p/alice/habits").text
    assert "avg °F" in habits


def test_a_doctor_reads_blood_tests_in_their_units_and_types_them_so(app, auth):
    _, _, secret = auth.make_shared(app)
    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    token = auth.csrf(doctor, "/account/")
    doctor.post(
        "/account/settings",
        data={"csrf_token": token, "temperature": "C", "lab_units": "conventional"},
    )
    form = doctor.get("/p/alice/report").text
    assert "Glucose <small>mg/dL · 70–101</small>" in form
    doctor.post(
        "/p/alice/blood-tests",
        data={"csrf_token": token, "taken_on": "2026-11-20", "value_glucose": "126"},
    )
    conn = schema.connect(app.config["DATABASE"])
    try:  # stored as laboratories outside the US report it
        stored = conn.execute("SELECT value, unit FROM blood_tests").fetchone()
    finally:
        conn.close()
    assert stored["unit"] == "mmol/L" and abs(stored["value"] - 126 / 18.016) < 1e-9
    page = doctor.get("/p/alice/report").text
    row = page.split('data-test="Glucose"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="val">126' in row and "mg/dL" in row and "70–101" in row
    patient = app.test_client()
    auth.sign_in_patient(patient)
    mine = patient.get("/p/alice/report").text.split('data-test="Glucose"', 1)[1]
    mine = mine.split("</tr>", 1)[0]
    assert '<td class="val">7.0' in mine and "mmol/L" in mine  # she reads SI, as is the default


def test_doctors_move_two_step_to_a_new_phone_and_renew_codes_but_never_turn_it_off(app, auth):
    _, secret = auth.make_doctor(app)
    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    token = auth.csrf(doctor, "/account/totp")
    page = doctor.get("/account/totp").text
    assert "Move to a new phone" in page and "Turn off" not in page
    moving = doctor.post("/account/totp", data={"csrf_token": token, "action": "move"}).text
    new_secret = re.search(r'id="totp-secret">([A-Z2-7]{32})<', moving)[1]
    assert new_secret != secret
    confirm = {"csrf_token": token, "action": "confirm", "password": auth.DOCTOR_PW}
    moved = doctor.post("/account/totp", data={**confirm, "totp": pyotp.TOTP(new_secret).now()})
    assert moved.status_code == 200 and "only the new authenticator" in moved.text
    assert len(re.findall(r"<li>[a-z0-9]{5}-[a-z0-9]{5}</li>", moved.text)) == 10
    off = doctor.post(
        "/account/totp",
        data={"csrf_token": token, "action": "disable", "password": auth.DOCTOR_PW},
    )
    assert "Move to a new phone" in off.text, "a doctor's second step stays on"
    codes = doctor.post(
        "/account/totp", data={"csrf_token": token, "action": "codes", "password": auth.DOCTOR_PW}
    )
    assert "New recovery codes made" in codes.text
    # The old phone's codes stop working; the new one's sign in.
    old, new = app.test_client(), app.test_client()
    later = time.time() + 30
    assert auth.sign_in_doctor(old, pyotp.TOTP(secret).at(later)).status_code == 401
    assert auth.sign_in_doctor(new, pyotp.TOTP(new_secret).at(later)).status_code == 302


def test_the_account_link_is_on_every_page_for_every_role(app, auth):
    client, _ = _signed_in(app, auth)
    assert 'href="/account/"' in client.get("/p/alice").text
    assert client.get("/account/").status_code == 200
    assert app.test_client().get("/account/").status_code == 302  # signed out: to sign in
