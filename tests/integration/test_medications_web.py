"""The medication list over HTTP and the admin CLI: edit, audit, the mark-taken button."""

from datetime import UTC, datetime, timedelta

import pyotp

from services.web import accounts
from services.web import db as schema
from tests.support import browser
from tests.support.net import free_port


def _due_soon() -> str:
    """A time of day a minute ago (UTC, the default zone): its dose is open now."""
    return (datetime.now(UTC) - timedelta(minutes=1)).strftime("%H:%M")


def test_patient_and_doctor_edit_the_list_and_both_see_every_change(app, auth, monkeypatch):
    monkeypatch.setenv("REPORT_TIMEZONE", "UTC")
    _, _, secret = auth.make_shared(app)
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    token = auth.csrf(patient, "/p/alice/medications")
    added = patient.post(
        "/p/alice/medications",
        data={
            "csrf_token": token,
            "name": "Metformin 500 mg",
            "times": _due_soon(),
            "window": "30",
            "item": "Metformin",
            "stock": "30",
            "dose": "1",
        },
    )
    assert added.status_code == 302
    bad = patient.post(
        "/p/alice/medications",
        data={"csrf_token": token, "name": "X", "times": "25:00", "item": "X"},
    )
    assert bad.status_code == 400 and "not a time of day" in bad.text

    dr = app.test_client()
    auth.sign_in_doctor(dr, pyotp.TOTP(secret).now())
    api = dr.get("/api/p/alice/medications").get_json()
    med = api["medications"][0]
    assert med["name"] == "Metformin 500 mg" and med["window_min"] == 30
    dr_token = auth.csrf(dr, "/p/alice/medications")
    edited = dr.post(
        f"/p/alice/medications/{med['id']}",
        data={
            "csrf_token": dr_token,
            "name": "Metformin 850 mg",
            "times": med["times"],
            "window": "30",
            "item": "Metformin",
            "stock": "30",
            "dose": "1",
        },
    )
    assert edited.status_code == 302
    for viewer in (patient, dr):
        page = viewer.get("/p/alice/medications").text
        assert "Metformin 850 mg" in page
        assert "added" in page and "alice" in page  # who added it
        assert "changed" in page and "D100" in page and "500 mg -&gt; name Metformin 850" in page
    # the doctor's edits are in the patient's access log too
    assert "Changed a medication" in patient.get("/p/alice/access-log").text

    # the doctor cannot mark a dose taken; the patient can, once, from the home page
    home = patient.get("/p/alice/monitoring").text
    assert "I took Metformin 850 mg" in home
    due = home.split('name="due" value="')[1].split('"')[0]
    form = {"csrf_token": dr_token, "medication": str(med["id"]), "due": due}
    assert dr.post("/p/alice/medications/taken", data=form).status_code == 403
    form["csrf_token"], form["next"] = token, "monitoring"
    marked = patient.post("/p/alice/medications/taken", data=form)
    assert marked.status_code == 302 and "/p/alice/monitoring" in marked.headers["Location"]
    assert patient.post("/p/alice/medications/taken", data=form).status_code == 302
    after = dr.get("/api/p/alice/medications").get_json()
    assert [d["outcome"] for d in after["doses"]] == ["on_time"]
    assert after["medications"][0]["stock"] == 29  # down once, not twice
    assert "I took" not in patient.get("/p/alice/monitoring").text
    assert "taken on time" in dr.get("/p/alice/medications").text


def test_a_stranger_cannot_see_or_edit_the_list(app, auth):
    auth.make_patient(app, "alice")
    auth.make_patient(app, "bob")
    bob = app.test_client()
    auth.sign_in_patient(bob, "bob")
    assert bob.get("/p/alice/medications").status_code == 403
    token = auth.csrf(bob, "/p/bob/medications")
    refused = bob.post("/p/alice/medications", data={"csrf_token": token, "name": "x"})
    assert refused.status_code == 403


def test_cli_adds_lists_and_removes_medications(tmp_path, app_database, database_url):
    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "data"), "MQTT_PORT": str(free_port())}
    env["DATABASE_URL"] = database_url
    browser.cli(
        env,
        "users",
        "add-patient",
        "--email",
        "a@example.org",
        "--username",
        "alice",
        password="correct horse battery 7",
    )
    out = browser.cli(
        env,
        "meds",
        "add",
        "--patient",
        "alice",
        "--name",
        "Aspirin 75 mg",
        "--item",
        "Aspirin",
        "--at",
        "08:00,20:00",
        "--window",
        "45",
        "--dose",
        "2",
    )
    assert "added for alice: Aspirin 75 mg at 08:00,20:00" in out
    listing = browser.cli(env, "meds", "list", "--patient", "alice")
    assert "Aspirin 75 mg" in listing and "dose 2" in listing and "window 45 min" in listing
    med_id = listing.split()[0]
    assert "removed" in browser.cli(env, "meds", "remove", "--patient", "alice", med_id)
    assert "Aspirin" not in browser.cli(env, "meds", "list", "--patient", "alice")
    conn = schema.connect(app_database)
    try:
        actors = [r["actor"] for r in conn.execute("SELECT actor FROM medication_changes")]
        assert actors == ["admin (command line)"] * 2
    finally:
        conn.close()


def test_an_earlier_free_text_medications_answer_stays_readable(app, auth):
    auth.make_patient(app, "alice")
    conn = schema.connect(app.config["DATABASE"])
    alice = accounts.find_patient(conn, "alice")
    conn.execute(
        "INSERT INTO questionnaire_answers (patient_id, question_key, question, answer,"
        " answered_at) VALUES (?, 'medications', 'Which medicines?', 'Metformin twice a day', 1)",
        (alice.id,),
    )
    conn.close()
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    page = patient.get("/p/alice/questionnaire").text
    assert "Earlier answer" in page and "Metformin twice a day" in page
    assert 'name="medications"' not in page and "/p/alice/medications" in page
