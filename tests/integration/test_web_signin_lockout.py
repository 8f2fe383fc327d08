"""Over HTTP: strangers cannot lock an account out, known browsers keep signing in, alerts."""

import json
import re

from services.web import create_app, db, start_background, stop_background
from services.web.settings import Settings
from services.web.throttle import Policy
from tests.support.mqtt import TopicLog

STRANGER, OWNER = "198.51.100.7", "192.0.2.10"
WRONG = "not the password at all"


def sign_in(auth, client, address, password=None, headers=None):
    password = password or auth.PATIENT_PW
    token = auth.csrf(client)
    form = {"csrf_token": token, "email": "alice@example.org", "username": "alice"}
    return client.post(
        "/login?tab=users",
        data={**form, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers or {},
    )


def _error(response) -> str:
    return re.search(r'role="alert">([^<]+)<', response.get_data(as_text=True))[1]


def _age_attempts(app, seconds: int) -> None:
    conn = db.connect(app.config["DATABASE"])
    try:
        conn.execute("UPDATE attempts SET at = at - ?", (seconds,))
    finally:
        conn.close()


def test_a_stranger_only_slows_the_owner_down(auth, app):
    auth.make_patient(app)
    stranger, owner = app.test_client(), app.test_client()
    for _ in range(5):
        assert sign_in(auth, stranger, STRANGER, WRONG).status_code == 401
    assert sign_in(auth, stranger, STRANGER).status_code == 429, "hard limit for that address"
    slowed = sign_in(auth, owner, OWNER)
    assert slowed.status_code == 429 and "Wait" in _error(slowed)
    _age_attempts(app, 3)  # past the first delay (2 s), still inside the 15-minute window
    assert sign_in(auth, owner, OWNER).status_code == 302, "the owner is slowed, not locked out"


def test_the_delay_grows_with_each_failure(auth, app):
    auth.make_patient(app)
    client = app.test_client()
    waits = []
    for i in range(4):
        address = f"203.0.113.{i}"  # a different address each time: no hard limit
        _age_attempts(app, 120)  # every earlier delay has passed
        for _ in range(5 if i == 0 else 1):
            sign_in(auth, client, address, WRONG)
        probe = _error(sign_in(auth, client, f"198.18.0.{i}"))
        waits.append(int(re.search(r"Wait (\d+) seconds", probe)[1]))
    assert waits == sorted(waits) and waits[-1] > waits[0], waits


def test_a_browser_that_signed_in_before_keeps_signing_in(auth, app):
    auth.make_patient(app)
    owner, stranger = app.test_client(), app.test_client()
    assert sign_in(auth, owner, OWNER).status_code == 302
    assert owner.get_cookie("hp_device") is not None
    owner.post("/logout", data={"csrf_token": auth.csrf(owner, "/forgot")})
    # The stranger even shares the owner's address (one home router).
    for _ in range(6):
        sign_in(auth, stranger, OWNER, WRONG)
    assert sign_in(auth, stranger, OWNER).status_code == 429
    assert sign_in(auth, owner, OWNER).status_code == 302, "the known browser is not locked out"
    forged = app.test_client()
    forged.set_cookie("hp_device", owner.get_cookie("hp_device").value[:-2] + "xx")
    assert sign_in(auth, forged, OWNER).status_code == 429, "a forged cookie counts for nothing"


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(auth, tmp_path, app):
    auth.make_patient(app)
    client = app.test_client()
    for i in range(5):
        headers = {"X-Forwarded-For": f"203.0.113.{i}"}
        sign_in(auth, client, STRANGER, WRONG, headers)
    refused = sign_in(auth, client, STRANGER, headers={"X-Forwarded-For": "203.0.113.99"})
    assert "Too many attempts" in _error(refused), "X-Forwarded-For is ignored by default"

    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "proxied"), "WEB_LIVE": "0"}
    proxied = create_app({"TESTING": True}, Settings.from_env({**env, "WEB_TRUST_PROXY": "1"}))
    auth.make_patient(proxied)
    client = proxied.test_client()
    for _ in range(5):
        sign_in(auth, client, "10.0.0.2", WRONG, {"X-Forwarded-For": STRANGER})
    other = sign_in(auth, client, "10.0.0.2", headers={"X-Forwarded-For": OWNER})
    assert "Wait" in _error(other), "behind the proxy, each client has its own hard limit"
    stop_background(proxied)


def test_repeated_failures_raise_a_security_alert_published_once_the_broker_is_there(
    auth, tmp_path, broker
):
    env = {**broker.env(), "SMARTCAB_DATA_DIR": str(tmp_path / "web"), "WEB_LIVE": "1"}
    app = create_app({"TESTING": True}, Settings.from_env(env))
    app.config["THROTTLE"] = Policy(per_account=50, slow_after=50, alert_after=3)
    auth.make_patient(app)
    client = app.test_client()
    for _ in range(4):
        sign_in(auth, client, STRANGER, WRONG)
    conn = db.connect(app.config["DATABASE"])
    try:
        pending = conn.execute("SELECT COUNT(*) FROM security_alerts WHERE published_at IS NULL")
        assert pending.fetchone()[0] == 1, "kept until the broker is reachable"
    finally:
        conn.close()
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#",)) as rec:
        start_background(app)
        try:
            messages = rec.wait("smartcab/alerts/services/web", count=1)
        finally:
            stop_background(app)
    bodies = [json.loads(m.payload) for m in messages]
    assert {b["kind"] for b in bodies} == {"security"}
    # one alert naming the patient: the notifier tells the patient's circle and the admins
    assert [b["patient"] for b in bodies] == ["alice"]
    assert all("3 failed sign-ins" in b["message"] for b in bodies)
