"""Empty sections say what to do next, to the patient and to the doctor, not "No ... yet."."""

import re

import pyotp

PAGES = (
    "/p/alice",
    "/p/alice/monitoring",
    "/p/alice/report",
    "/p/alice/datasheet",
    "/p/alice/cabinet",
    "/p/alice/habits",
    "/p/alice/medications",
    "/p/alice/questionnaire",
    "/p/alice/care-circle",
)
NOT_YET = re.compile(r"\b(?:no|not|nobody|none)\b[^<.]*\byet\b", re.IGNORECASE)


def _people(app, auth):
    _, _, secret = auth.make_shared(app)
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    doc = app.test_client()
    auth.sign_in_doctor(doc, pyotp.TOTP(secret).now())
    return patient, doc


def test_no_page_of_an_empty_record_says_no_thing_yet(app, auth):
    patient, doc = _people(app, auth)
    for client, extra in ((patient, ["/p/alice/access-log"]), (doc, ["/doctor"])):
        for path in [*PAGES, *extra]:
            page = client.get(path)
            assert page.status_code == 200, path
            text = page.get_data(as_text=True)
            assert not NOT_YET.search(text), (path, NOT_YET.search(text)[0])


def test_the_empty_record_tells_each_reader_their_next_step(app, auth):
    patient, doc = _people(app, auth)
    mine = patient.get("/p/alice/report").get_data(as_text=True)
    assert "Your doctor enters your blood test results here after a visit." in mine
    assert "your doctor adds advice here after a visit" in mine
    assert "Your doctor&#39;s notes from your visits appear here." in mine
    theirs = doc.get("/p/alice/report").get_data(as_text=True)
    assert "Enter the results of a visit below." in theirs
    assert "write it in the form below" in theirs
    assert "Add a note below after a visit." in theirs
    questions = patient.get("/p/alice/questionnaire").get_data(as_text=True)
    assert "Answer below and submit" in questions
    assert "The patient has not submitted it." in doc.get("/p/alice/questionnaire").get_data(
        as_text=True
    )
    sheet = patient.get("/p/alice/datasheet").get_data(as_text=True)
    assert "Readings appear here once a watch is assigned and worn" in sheet
    assert 'href="/p/alice/monitoring"' in sheet
    cabinet = patient.get("/p/alice/cabinet").get_data(as_text=True)
    assert "Ask your administrator to assign your smart cabinet" in cabinet
    circle = patient.get("/p/alice/care-circle").get_data(as_text=True)
    assert "add someone below so that they reach a person" in circle
    assert "add yourself below" in doc.get("/p/alice/care-circle").get_data(as_text=True)
    assert "with your Dr_ID" not in doc.get("/doctor").get_data(as_text=True)  # alice shares
