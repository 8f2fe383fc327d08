"""Weaknesses a security review of the dashboard found, each shut, against the real web."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from services.web import access, accounts, carers
from services.web import db as schema
from tests.support import browser

PASSWORD = "correct horse battery 7"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the answer itself is what is checked


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """``python -m services.web`` over HTTP with the patient alice."""
    workdir = tmp_path_factory.mktemp("review")
    env = {"SMARTCAB_DATA_DIR": str(workdir / "data"), "WEB_LIVE": "0"}
    browser.cli(env, "users", "add-patient", "--email", "a@example.org", "--username", "alice",
                password=PASSWORD)  # fmt: skip
    web = browser.web(workdir, env).start()
    yield f"http://127.0.0.1:{web.port}"
    web.stop()


def _sign_in(base: str, next_path: str) -> str:
    """Sign in as alice from ``/login?next=...``; where the answer sends the browser."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirects)
    with opener.open(f"{base}/login?tab=users") as page:
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.read().decode())[1]
    form = {"csrf_token": token, "email": "a@example.org", "username": "alice"}
    form |= {"password": PASSWORD, "totp": ""}
    query = urllib.parse.urlencode({"tab": "users", "next": next_path})
    try:
        opener.open(f"{base}/login?{query}", urllib.parse.urlencode(form).encode())
    except urllib.error.HTTPError as answer:
        with answer:
            assert answer.code == 302
            return answer.headers["Location"]
    raise AssertionError("signing in did not redirect")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example/x",  # browsers read a backslash as a slash
        "/\\/evil.example",
        "/\t/evil.example",  # and drop tabs
        "https://evil.example/",
        "javascript:alert(1)",
    ],
)
def test_signing_in_never_sends_the_browser_to_another_site(dashboard, target):
    assert _sign_in(dashboard, target) == "/p/alice"


def test_signing_in_still_returns_to_the_page_asked_for(dashboard):
    assert _sign_in(dashboard, "/p/alice/report?range=week") == "/p/alice/report?range=week"


def test_a_carer_reads_the_medication_list_and_cannot_change_it(app, auth):
    auth.make_patient(app, "alice")
    conn = schema.connect(app.config["DATABASE"])
    try:
        alice = accounts.find_patient(conn, "alice")
        token = carers.invite(conn, alice, "carol@example.org", "Carol", None)
        carer, _ = carers.create_carer(conn, token, "carol", PASSWORD)
        access.grant_carer(conn, alice, carer, "/carer/invite", "127.0.0.1")  # as the page does
    finally:
        conn.close()
    patient = app.test_client()
    auth.sign_in_patient(patient, "alice")
    form = {"name": "Aspirin", "times": "08:00", "item": "Aspirin"}
    form["csrf_token"] = auth.csrf(patient, "/p/alice/medications")
    added = patient.post("/p/alice/medications", data=form)
    assert added.status_code == 302
    med_id = re.search(r'data-med="(\d+)"', patient.get("/p/alice/medications").text)[1]
    carol = app.test_client()
    auth.sign_in_patient(carol, "carol", email="carol@example.org", password=PASSWORD)
    page = carol.get("/p/alice/medications")
    assert page.status_code == 200 and "Aspirin" in page.text
    assert "medication_add" not in page.text and 'action="/p/alice/medications"' not in page.text
    csrf = auth.csrf(carol, "/p/alice/medications")
    for path, form in [
        ("/p/alice/medications", {"name": "Poison", "times": "09:00", "item": "x"}),
        (f"/p/alice/medications/{med_id}", {"name": "Aspirin", "times": "23:00", "item": "x"}),
        (f"/p/alice/medications/{med_id}/remove", {}),
        ("/p/alice/medications/timezone", {"timezone": "Pacific/Kiritimati"}),
    ]:
        assert carol.post(path, data={"csrf_token": csrf, **form}).status_code == 403, path
    listed = patient.get("/api/p/alice/medications").get_json()
    assert [(m["name"], m["times"]) for m in listed["medications"]] == [("Aspirin", "08:00")]
    assert listed["timezone"] != "Pacific/Kiritimati"


def test_test_messages_are_limited_per_person(app, auth):
    """Each "Send a test" goes to an address the patient typed: not a way to spam one."""
    auth.make_patient(app, "alice")
    alice = app.test_client()
    auth.sign_in_patient(alice, "alice")
    token = auth.csrf(alice, "/p/alice/care-circle")
    form = {"csrf_token": token, "name": "Someone", "channel": "victim@example.org"}
    assert alice.post("/p/alice/care-circle", data={**form, "levels": "warning"}).status_code == 302
    contact_id = re.search(r"/care-circle/(\d+)/test", alice.get("/p/alice/care-circle").text)[1]
    test = f"/p/alice/care-circle/{contact_id}/test"
    answers = [alice.post(test, data={"csrf_token": token}).status_code for _ in range(21)]
    assert answers == [302] * 20 + [429]
    refused = alice.post(test, data={"csrf_token": token})
    assert refused.status_code == 429 and "Too many test messages and invitations" in refused.text
    conn = schema.connect(app.config["DATABASE"])
    try:
        queued = conn.execute(
            "SELECT COUNT(*) FROM deliveries WHERE alert_id LIKE 'test-%'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert queued == 20
