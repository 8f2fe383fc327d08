"""HTTP-level tests of sign-in, sessions, CSRF, throttling and security headers."""

import re
import time

import pyotp
import pytest

from services.web import accounts
from services.web import db as schema

PATIENT_PW = "correct horse battery 7"
DOCTOR_PW = "stethoscope-orbit-42"


def make_patient(app, username="alice", email=None, totp=False):
    conn = schema.connect(app.config["DATABASE"])
    try:
        user, secret = accounts.create_patient(
            conn,
            email or f"{username}@example.org",
            username,
            PATIENT_PW,
            totp=totp,
            keys=app.extensions["smartcab.keys"],
        )
    finally:
        conn.close()
    return user, secret


def make_doctor(app, dr_id="D100", name="Grace Tan", ic="S1234567A"):
    conn = schema.connect(app.config["DATABASE"])
    try:
        user, secret = accounts.create_doctor(
            conn, dr_id, name, ic, DOCTOR_PW, None, app.extensions["smartcab.keys"]
        )
    finally:
        conn.close()
    return user, secret


def csrf(client, path="/login"):
    """The session's CSRF token, from the meta tag every page carries."""
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def sign_in_patient(client, username="alice", password=PATIENT_PW, code="", email=None):
    token = csrf(client)
    return client.post(
        "/login?tab=users",
        data={
            "csrf_token": token,
            "email": email or f"{username}@example.org",
            "username": username,
            "password": password,
            "totp": code,
        },
    )


def sign_in_doctor(client, code, dr_id="D100", name="Grace Tan", ic="S1234567A", pw=DOCTOR_PW):
    token = csrf(client, "/login?tab=doctors")
    return client.post(
        "/login?tab=doctors",
        data={
            "csrf_token": token,
            "dr_id": dr_id,
            "name": name,
            "ic": ic,
            "password": pw,
            "totp": code,
        },
    )


def test_patient_signs_in_and_lands_on_welcome(app, client):
    make_patient(app)
    response = sign_in_patient(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/p/alice"
    page = client.get("/p/alice")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for item in ("Welcome back alice", "Habit Tracker", "Health Report", "Cabinet"):
        assert item in text
    assert "Health Monitoring" in text


def test_wrong_password_and_unknown_user_get_the_same_answer(app, client):
    make_patient(app)
    wrong = sign_in_patient(client, password="not the password at all")
    unknown = sign_in_patient(client, username="mallory", password="not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert _error(wrong) == _error(unknown) == "Sign-in failed. Check what you typed and try again."
    assert client.get("/p/alice").status_code == 302


def _error(response):
    return re.search(r'class="error" role="alert">([^<]+)<', response.get_data(as_text=True))[1]


def test_sign_in_is_throttled_per_account_even_with_the_right_password(app, client):
    make_patient(app)
    for _ in range(5):
        assert sign_in_patient(client, password="wrong password 123").status_code == 401
    blocked = sign_in_patient(client)
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    # An account that does not exist is throttled the same way: nothing to enumerate.
    for _ in range(5):
        sign_in_patient(client, username="nobody", password="wrong password 123")
    assert sign_in_patient(client, username="nobody").status_code == 429


def test_throttle_per_address_covers_many_accounts(app, client):
    app.config["THROTTLE"] = type(app.config["THROTTLE"])(per_account=100, per_address=3)
    for name in ("aa1", "bb2", "cc3"):
        sign_in_patient(client, username=name, password="wrong password 123")
    assert sign_in_patient(client, username="dd4").status_code == 429


def test_doctor_needs_a_totp_code_and_a_code_works_once(app, client):
    _, secret = make_doctor(app)
    totp = pyotp.TOTP(secret)
    assert sign_in_doctor(client, "").status_code == 401
    assert (
        sign_in_doctor(client, "000000" if totp.now() != "000000" else "111111").status_code == 401
    )
    code = totp.now()
    ok = sign_in_doctor(client, code)
    assert ok.status_code == 302 and ok.headers["Location"] == "/doctor"
    assert "Grace Tan" in client.get("/doctor").get_data(as_text=True)
    _sign_out(client)
    replay = sign_in_doctor(client, code)
    assert replay.status_code == 401, "a TOTP code must not be accepted twice"
    # The next step's code is inside the one-step window and has not been used.
    assert sign_in_doctor(client, totp.at(time.time() + 30)).status_code == 302


def test_doctor_name_and_ic_must_match_the_id(app, client):
    _, secret = make_doctor(app)
    code = pyotp.TOTP(secret).now()
    assert sign_in_doctor(client, code, name="Someone Else").status_code == 401
    assert sign_in_doctor(client, code, ic="S7654321B").status_code == 401


def test_patient_with_totp_needs_the_code(app, client):
    _, secret = make_patient(app, totp=True)
    assert sign_in_patient(client).status_code == 401
    assert sign_in_patient(client, code=pyotp.TOTP(secret).now()).status_code == 302


def test_session_id_rotates_at_sign_in_and_dies_at_sign_out(app, client):
    make_patient(app)
    csrf(client)
    assert client.get_cookie("hp_session") is None, "an anonymous visit has no session"
    sign_in_patient(client)
    signed_in = client.get_cookie("hp_session").value
    assert client.get("/p/alice").status_code == 200
    _sign_out(client)
    # Replaying the old cookie after sign-out must not work: the server forgot it.
    client.set_cookie("hp_session", signed_in)
    assert client.get("/p/alice").status_code == 302
    assert client.get("/api/p/alice/latest").status_code == 401
    assert client.get("/login").status_code == 200


def _sign_out(client):
    response = client.post("/logout", data={"csrf_token": csrf(client, "/forgot")})
    assert response.status_code == 302
    return response


def test_csrf_missing_or_wrong_is_refused(app, client):
    make_patient(app)
    csrf(client)
    no_token = client.post(
        "/login?tab=users",
        data={"email": "alice@example.org", "username": "alice", "password": PATIENT_PW},
    )
    assert no_token.status_code == 403
    wrong = client.post(
        "/login?tab=users",
        data={
            "csrf_token": "x" * 43,
            "email": "alice@example.org",
            "username": "alice",
            "password": PATIENT_PW,
        },
    )
    assert wrong.status_code == 403
    sign_in_patient(client)
    assert client.post("/logout").status_code == 403
    assert client.post("/p/alice/readings", data={"spo2": "97"}).status_code == 403
    assert client.get("/p/alice").status_code == 200, "refused posts must not sign out"


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/p/alice",
        "/p/alice/monitoring",
        "/p/bob/monitoring",
        "/api/p/alice/latest",
        "/nope",
        "/forgot",
        "/static/app.js",
        "POST /logout",
    ],
)
def test_security_headers_on_every_response(app, client, path):
    make_patient(app)
    make_patient(app, "bob")
    sign_in_patient(client)
    if path.startswith("POST "):
        response = client.post(path[5:])  # refused: no CSRF token
        assert response.status_code == 403
    else:
        response = client.get(path)
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    if path.startswith("/static/"):
        assert "no-store" not in headers.get("Cache-Control", "")
    else:
        assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers  # plain HTTP here
    response.close()


def test_hsts_and_secure_cookie_over_https(app, client):
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_next_parameter_cannot_leave_the_site(app, client):
    make_patient(app)
    token = csrf(client)
    response = client.post(
        "/login?tab=users&next=//evil.example/x",
        data={
            "csrf_token": token,
            "email": "alice@example.org",
            "username": "alice",
            "password": PATIENT_PW,
        },
    )
    assert response.headers["Location"] == "/p/alice"


def test_common_and_short_passwords_are_refused(app):
    conn = schema.connect(app.config["DATABASE"])
    try:
        for bad in ("password123", "short1", "qwertyuiop", "iloveyou1"):
            with pytest.raises(accounts.ValidationError):
                accounts.create_patient(conn, "bob@example.org", "bob", bad)
        with pytest.raises(accounts.ValidationError, match="user name"):
            accounts.create_patient(conn, "bob@example.org", "bobby", "bobby-is-great-99")
        stored = conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]
    finally:
        conn.close()
    assert stored == 0


def test_passwords_are_argon2id_at_owasp_parameters(app):
    user, _ = make_patient(app)
    conn = schema.connect(app.config["DATABASE"])
    try:
        stored = conn.execute("SELECT password_hash FROM users WHERE id=?", (user.id,)).fetchone()
    finally:
        conn.close()
    assert stored[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_migrations_are_numbered_and_rerunnable(app):
    path = app.config["DATABASE"]
    assert schema.migrate(path) == schema.MIGRATIONS[-1][0]
    conn = schema.connect(path)
    try:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version")]
    finally:
        conn.close()
    assert versions == [n for n, _ in schema.MIGRATIONS]


def test_patient_turns_on_totp_after_proving_the_app_has_it(app, client):
    make_patient(app)
    sign_in_patient(client)
    token = csrf(client, "/account/totp")
    page = client.post("/account/totp", data={"csrf_token": token, "action": "start"})
    text = page.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]{32})<', text)[1]
    assert 'name="secret"' not in text, "the pending secret stays on the server"
    assert 'src="data:image/svg+xml' in text
    form = {"csrf_token": token, "action": "confirm", "password": PATIENT_PW}
    wrong = client.post("/account/totp", data={**form, "totp": "12345"})
    assert wrong.status_code == 400
    code = pyotp.TOTP(secret).now()
    done = client.post("/account/totp", data={**form, "totp": code})
    assert "Turned on" in done.get_data(as_text=True)
    _sign_out(client)
    assert sign_in_patient(client).status_code == 401, "the password alone is not enough now"
    assert sign_in_patient(client, code=code).status_code == 401, "the set-up code was used"
    later = pyotp.TOTP(secret).at(time.time() + 30)
    assert sign_in_patient(client, code=later).status_code == 302


def test_parallel_guesses_cannot_pass_the_limit(app):
    from concurrent.futures import ThreadPoolExecutor

    make_patient(app)
    clients = [app.test_client() for _ in range(12)]
    tokens = [csrf(c) for c in clients]

    def guess(i):
        form = {
            "csrf_token": tokens[i],
            "email": "alice@example.org",
            "username": "alice",
            "password": f"wrong guess number {i}",
        }
        return clients[i].post("/login?tab=users", data=form).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(guess, range(12)))
    assert codes.count(401) == 5 and codes.count(429) == 7, codes


def test_successful_sign_ins_do_not_use_up_the_address(app, client):
    app.config["THROTTLE"] = type(app.config["THROTTLE"])(per_account=5, per_address=2)
    make_patient(app)
    for _ in range(3):
        assert sign_in_patient(client).status_code == 302
        _sign_out(client)
    assert sign_in_patient(client, password="wrong password 123").status_code == 401
