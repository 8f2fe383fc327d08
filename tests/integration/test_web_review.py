"""Weaknesses a security review of the dashboard found, each shut, against the real web."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pyotp
import pytest

from services.web import access, accounts, carers
from services.web import db as schema
from tests.support import browser

PASSWORD = "correct horse battery 7"
CSRF_REFUSED = "did not come from this site"


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


def _patient_urls(app) -> list[tuple[str, str]]:
    """Every (method, URL) of a patient's pages and APIs, for alice, with made-up ids."""
    values = {"device": "wch-01", "name": "x.jpg", "report_id": "r-1", "contact_id": 1}
    values |= {"med_id": 1}
    out = []
    for rule in app.url_map.iter_rules():
        if "username" not in rule.arguments:
            continue
        args = {a: values.get(a, "alice") for a in rule.arguments}
        args["username"] = "alice"
        path = rule.build(args, append_unknown=False)[1]
        out += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def test_every_patient_page_and_api_refuses_strangers_and_forms_without_a_token(app, auth):
    auth.make_patient(app, "alice")
    auth.make_patient(app, "bob")
    urls = _patient_urls(app)
    patient_views = sum(len(bp.roles) for bp in app.blueprints.values() if hasattr(bp, "roles"))
    assert len(urls) == patient_views > 40  # every view of every patient page, not a few
    _, secret = auth.make_doctor(app)  # a doctor alice does not share with
    anonymous, bob, doctor = app.test_client(), app.test_client(), app.test_client()
    auth.sign_in_patient(bob, "bob")
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    strangers = [(bob, auth.csrf(bob, "/p/bob")), (doctor, auth.csrf(doctor, "/doctor"))]
    for method, path in urls:
        # a stranger, with a valid token, is refused the same way for every patient URL
        for client, token in strangers:
            answer = client.open(path, method=method, data={"csrf_token": token})
            assert answer.status_code == 403, (method, path, answer.status_code)
        # nobody signed in: the sign-in page, or 401 for an API (a form first needs a token)
        answer = anonymous.open(path, method=method)
        if method == "POST":
            answer = anonymous.post(path, headers={"Accept": "application/json"})
            assert answer.status_code == 403 and CSRF_REFUSED in answer.get_json()["detail"]
        elif path.startswith("/api/"):
            assert answer.status_code == 401, path
        else:
            assert answer.status_code == 302 and "/login?next=" in answer.headers["Location"]
    # and alice herself: no form of hers is taken without the token
    alice = app.test_client()
    auth.sign_in_patient(alice, "alice")
    for method, path in urls:
        if method == "POST":
            answer = alice.post(path, data={"name": "x"}, headers={"Accept": "application/json"})
            assert answer.status_code == 403 and CSRF_REFUSED in answer.get_json()["detail"], path


def test_another_patients_ids_are_not_found_through_ones_own_urls(app, auth):
    """Bob's medication or contact, named in alice's own URLs, is neither found nor changed."""
    for name in ("alice", "bob"):
        auth.make_patient(app, name)
    bob = app.test_client()
    auth.sign_in_patient(bob, "bob")
    token = auth.csrf(bob, "/p/bob/medications")
    med = {"csrf_token": token, "name": "Insulin", "times": "08:00", "item": "Insulin"}
    bob.post("/p/bob/medications", data=med)
    son = {"csrf_token": token, "name": "Son", "channel": "son@example.org", "levels": "warning"}
    bob.post("/p/bob/care-circle", data=son)
    med_id = bob.get("/api/p/bob/medications").get_json()["medications"][0]["id"]
    contact_id = re.search(r"/care-circle/(\d+)/test", bob.get("/p/bob/care-circle").text)[1]
    alice = app.test_client()
    auth.sign_in_patient(alice, "alice")
    mine = auth.csrf(alice, "/p/alice/medications")
    edit = {"csrf_token": mine, "name": "Water", "times": "09:00", "item": "Water"}
    assert alice.post(f"/p/alice/medications/{med_id}", data=edit).status_code == 400
    assert alice.post(f"/p/alice/medications/{med_id}/remove", data=edit).status_code == 400
    for action in ("edit", "remove", "test", "invite"):
        answer = alice.post(f"/p/alice/care-circle/{contact_id}/{action}", data=edit)
        assert answer.status_code in (400, 404), action  # invite: mail is off here
    assert [m["name"] for m in bob.get("/api/p/bob/medications").get_json()["medications"]] == [
        "Insulin"
    ]
    conn = schema.connect(app.config["DATABASE"])
    try:
        assert conn.execute("SELECT COUNT(*) FROM care_contacts").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 0
    finally:
        conn.close()
