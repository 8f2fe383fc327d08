"""The health record over HTTP: doctors' entries, the questionnaire, the reporter's reads."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyotp

from services.reporter.model import Period
from services.reporter.webdb import WebDirectory
from services.web import db as schema


def _shared(auth, app):
    return auth.make_shared(app)


def _doctor_client(auth, app, secret):
    client = app.test_client()
    auth.sign_in_doctor(client, pyotp.TOTP(secret).now())
    return client


def test_doctor_enters_results_patient_sees_flags_and_trend(app, auth):
    _, _, secret = _shared(auth, app)
    doc = _doctor_client(auth, app, secret)
    token = auth.csrf(doc, "/p/alice/report")
    for day, hba1c, ldl in (("2026-03-01", "5.4", "3.0"), ("2026-09-01", "6.2", "2.8")):
        saved = doc.post(
            "/p/alice/blood-tests",
            data={"csrf_token": token, "taken_on": day, "value_hba1c": hba1c, "value_ldl": ldl},
        )
        assert saved.status_code == 302 and saved.headers["Location"].endswith("#blood-tests")
    bad = doc.post(
        "/p/alice/blood-tests",
        data={"csrf_token": token, "taken_on": "2026-09-01", "value_alt": "lots"},
    )
    assert bad.status_code == 400 and "ALT: &#39;lots&#39; is not a number." in bad.text
    future = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    late = doc.post(
        "/p/alice/blood-tests", data={"csrf_token": token, "taken_on": future, "value_alt": "30"}
    )
    assert late.status_code == 400 and "cannot be in the future" in late.text
    # nothing typed is lost, and the error stands at its field
    assert f'name="taken_on" required value="{future}"' in late.text
    assert 'name="value_alt" inputmode="decimal" value="30"' in late.text
    field = late.text.split('name="taken_on"', 1)[1].split("</label>", 1)[0]
    assert 'aria-invalid="true"' in field and "cannot be in the future" in field
    assert '<details class="entry" open>' in late.text

    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    record = patient.get("/api/p/alice/record").json
    by_test = {t["test"]: t for t in record["blood_tests"]}
    assert by_test["HbA1c"]["value"] == 6.2 and by_test["HbA1c"]["flag"] == "high"
    assert by_test["HbA1c"]["trend"] == "up" and by_test["HbA1c"]["range"] == "4–5.6"
    assert [h["value"] for h in by_test["HbA1c"]["history"]] == [5.4, 6.2]
    assert by_test["LDL"]["flag"] is None and by_test["LDL"]["trend"] == "down"
    page = patient.get("/p/alice/report").text
    assert '<span class="badge high">high</span>' in page
    assert "5.4 → 6.2" in page
    assert "3.0 → 2.8" in page, "decimals as the laboratory prints them: 3.0, not 3"
    # the record is shown once, in the page, not also inside <title>
    assert page.count('id="blood-tests"') == 1
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "Health Report" in title and "<" not in title
    # she shares with Dr. Tan already: told so, not offered to share again
    assert "Shared with Dr. Grace Tan" in page and "Share with your doctor" not in page
    assert "Enter results from a visit" not in page, "patients do not get the doctor's forms"
    refused = patient.post(
        "/p/alice/blood-tests",
        data={"csrf_token": auth.csrf(patient), "taken_on": "2026-09-01", "value_hba1c": "4"},
    )
    assert refused.status_code == 403


def test_advice_per_area_and_notes_keep_history(app, auth):
    _, _, secret = _shared(auth, app)
    doc = _doctor_client(auth, app, secret)
    token = auth.csrf(doc, "/p/alice/report")
    for text in ("Walk after meals", "Walk 30 minutes after dinner"):
        r = doc.post(
            "/p/alice/advice", data={"csrf_token": token, "area": "Exercise", "advice": text}
        )
        assert r.status_code == 302
    assert (
        doc.post(
            "/p/alice/advice", data={"csrf_token": token, "area": "Astrology", "advice": "x"}
        ).status_code
        == 400
    )
    assert doc.post("/p/alice/notes", data={"csrf_token": token, "note": "  "}).status_code == 400
    assert (
        doc.post(
            "/p/alice/notes", data={"csrf_token": token, "note": "Recheck HbA1c in 3 months."}
        ).status_code
        == 302
    )

    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    record = patient.get("/api/p/alice/record").json
    advice = {a["area"]: a for a in record["advice"]}
    assert advice["Exercise"]["advice"] == "Walk 30 minutes after dinner"
    assert advice["Exercise"]["doctor"] == "Grace Tan"
    assert advice["Diet"]["advice"] is None and len(advice) == 9
    assert record["notes"][0]["note"] == "Recheck HbA1c in 3 months."
    conn = schema.connect(app.config["DATABASE"])
    try:
        assert conn.execute("SELECT COUNT(*) FROM doctor_advice").fetchone()[0] == 2
    finally:
        conn.close()


def test_questionnaire_drafts_are_private_until_submitted(app, auth):
    _, _, secret = _shared(auth, app)
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    token = auth.csrf(patient, "/p/alice/questionnaire")
    draft = patient.post(
        "/p/alice/questionnaire",
        data={"csrf_token": token, "sleep": "About 6 hours", "action": "draft"},
    )
    assert draft.status_code == 302 and "saved=draft" in draft.headers["Location"]
    assert "About 6 hours" in patient.get("/p/alice/questionnaire").text
    own = {q["key"]: q["draft"] for q in patient.get("/api/p/alice/record").json["questionnaire"]}
    assert own["sleep"] == "About 6 hours"
    doc = _doctor_client(auth, app, secret)
    assert "About 6 hours" not in doc.get("/p/alice/questionnaire").text
    assert "About 6 hours" not in doc.get("/api/p/alice/record").text
    empty = patient.post("/p/alice/questionnaire", data={"csrf_token": token, "action": "submit"})
    assert empty.status_code == 400 and "Answer at least one question" in empty.text
    sent = patient.post(
        "/p/alice/questionnaire",
        data={
            "csrf_token": token,
            "sleep": "About 7 hours now",
            "exercise": "Walks, 5 km a day",
            "action": "submit",
        },
    )
    assert sent.status_code == 302
    seen = doc.get("/p/alice/questionnaire").text
    assert "About 7 hours now" in seen and "Walks, 5 km a day" in seen
    assert "<textarea" not in seen, "doctors read, they do not edit"
    answers = {q["key"]: q["answer"] for q in doc.get("/api/p/alice/record").json["questionnaire"]}
    assert answers["sleep"] == "About 7 hours now" and answers["stress"] is None
    assert (
        doc.post(
            "/p/alice/questionnaire", data={"csrf_token": auth.csrf(doc), "sleep": "x"}
        ).status_code
        == 403
    )


def test_reporter_reads_the_tables_the_web_writes(app, auth):
    _, _, secret = _shared(auth, app)
    doc = _doctor_client(auth, app, secret)
    token = auth.csrf(doc, "/p/alice/report")
    today = datetime.now(UTC).date().isoformat()
    doc.post(
        "/p/alice/blood-tests", data={"csrf_token": token, "taken_on": today, "value_hba1c": "6"}
    )
    doc.post("/p/alice/advice", data={"csrf_token": token, "area": "Diet", "advice": "Fewer chips"})
    doc.post("/p/alice/notes", data={"csrf_token": token, "note": "Doing well"})
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    ptoken = auth.csrf(patient, "/p/alice/habits")
    patient.post("/p/alice/habits", data={"csrf_token": ptoken, "day": today, "sleep": "7.5"})
    patient.post(
        "/p/alice/questionnaire", data={"csrf_token": ptoken, "stress": "Low", "action": "submit"}
    )
    end = datetime.now(UTC) + timedelta(days=1)
    period = Period(end - timedelta(days=8), end)
    with WebDirectory(app.config["DATABASE"]) as directory:
        assert [(b.test, b.value) for b in directory.blood_tests("alice", period)] == [
            ("HbA1c", 6.0)
        ]
        assert [a.text for a in directory.advice("alice", period)] == ["Fewer chips"]
        assert [n.text for n in directory.notes("alice", period)] == ["Doing well"]
        assert [q.answer for q in directory.questionnaire("alice", period)] == ["Low"]
        habits = directory.habits("alice", period, ZoneInfo("UTC"))
        assert [(h.habit, h.days, h.total) for h in habits] == [("Sleep", 1, 7.5)]
