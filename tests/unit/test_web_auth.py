"""HTTP-level tests of sign-in, sessions, CSRF, throttling and security headers."""

import re
import time

import pyotp
import pytest

from services.web import accounts
from services.web import db as schema


def test_patient_signs_in_and_lands_on_welcome(app, client, auth):
    auth.make_patient(app)
    response = auth.sign_in_patient(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/p/alice"
    page = client.get("/p/alice")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for item in ("Welcome, alice", "Habit Tracker", "Health Report", "Cabinet"):
        assert item in text
    assert "Health Monitoring" in text and "Welcome back" not in text, "a first sign-in"
    client.post("/logout", data={"csrf_token": auth.csrf(client, "/p/alice")})
    auth.sign_in_patient(client)
    assert "Welcome back, alice" in client.get("/p/alice").text


def test_wrong_password_and_unknown_user_get_the_same_answer(app, client, auth):
    auth.make_patient(app)
    wrong = auth.sign_in_patient(client, password="not the password at all")
    unknown = auth.sign_in_patient(client, username="mallory", password="not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert _error(wrong) == _error(unknown) == "Sign-in failed. Check what you typed and try again."
    assert client.get("/p/alice").status_code == 302


def _error(response):
    return re.search(r'class="error" role="alert">([^<]+)<', response.get_data(as_text=True))[1]


def test_sign_in_is_throttled_per_account_even_with_the_right_password(app, client, auth):
    auth.make_patient(app)
    for _ in range(5):
        assert auth.sign_in_patient(client, password="wrong password 123").status_code == 401
    blocked = auth.sign_in_patient(client)
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.get_data(as_text=True)
    # An account that does not exist is throttled the same way: nothing to enumerate.
    for _ in range(5):
        auth.sign_in_patient(client, username="nobody", password="wrong password 123")
    assert auth.sign_in_patient(client, username="nobody").status_code == 429


def test_throttle_per_address_covers_many_accounts(app, client, auth):
    app.config["THROTTLE"] = type(app.config["THROTTLE"])(per_account=100, per_address=3)
    for name in ("aa1", "bb2", "cc3"):
        auth.sign_in_patient(client, username=name, password="wrong password 123")
    assert auth.sign_in_patient(client, username="dd4").status_code == 429


def test_doctor_needs_a_totp_code_and_a_code_works_once(app, client, auth):
    _, secret = auth.make_doctor(app)
    totp = pyotp.TOTP(secret)
    assert auth.sign_in_doctor(client, "").status_code == 401
    assert (
        auth.sign_in_doctor(client, "000000" if totp.now() != "000000" else "111111").status_code
        == 401
    )
    code = totp.now()
    ok = auth.sign_in_doctor(client, code)
    assert ok.status_code == 302 and ok.headers["Location"] == "/doctor"
    assert "Grace Tan" in client.get("/doctor").get_data(as_text=True)
    _sign_out(auth, client)
    replay = auth.sign_in_doctor(client, code)
    assert replay.status_code == 401, "a TOTP code must not be accepted twice"
    # The next step's code is inside the one-step window and has not been used.
    assert auth.sign_in_doctor(client, totp.at(time.time() + 30)).status_code == 302


def test_doctor_name_and_ic_must_match_the_id(app, client, auth):
    _, secret = auth.make_doctor(app)
    code = pyotp.TOTP(secret).now()
    assert auth.sign_in_doctor(client, code, name="Someone Else").status_code == 401
    assert auth.sign_in_doctor(client, code, ic="S7654321B").status_code == 401


def test_patient_with_totp_needs_the_code(app, client, auth):
    _, secret = auth.make_patient(app, totp=True)
    assert auth.sign_in_patient(client).status_code == 401
    assert auth.sign_in_patient(client, code=pyotp.TOTP(secret).now()).status_code == 302


def test_session_id_rotates_at_sign_in_and_dies_at_sign_out(app, client, auth):
    auth.make_patient(app)
    auth.csrf(client)
    assert client.get_cookie("hp_session") is None, "an anonymous visit has no session"
    auth.sign_in_patient(client)
    signed_in = client.get_cookie("hp_session").value
    assert client.get("/p/alice").status_code == 200
    _sign_out(auth, client)
    # Replaying the old cookie after sign-out must not work: the server forgot it.
    client.set_cookie("hp_session", signed_in)
    assert client.get("/p/alice").status_code == 302
    assert client.get("/api/p/alice/latest").status_code == 401
    assert client.get("/login").status_code == 200


def _sign_out(auth, client):
    response = client.post("/logout", data={"csrf_token": auth.csrf(client, "/forgot")})
    assert response.status_code == 302
    return response


def test_csrf_missing_or_wrong_is_refused(app, client, auth):
    auth.make_patient(app)
    auth.csrf(client)
    no_token = client.post(
        "/login?tab=users",
        data={"email": "alice@example.org", "username": "alice", "password": auth.PATIENT_PW},
    )
    assert no_token.status_code == 403
    wrong = client.post(
        "/login?tab=users",
        data={
            "csrf_token": "x" * 43,
            "email": "alice@example.org",
            "username": "alice",
            "password": auth.PATIENT_PW,
        },
    )
    assert wrong.status_code == 403
    auth.sign_in_patient(client)
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
def test_security_headers_on_every_response(app, client, path, auth):
    auth.make_patient(app)
    auth.make_patient(app, "bob")
    auth.sign_in_patient(client)
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


def test_next_parameter_cannot_leave_the_site(app, client, auth):
    auth.make_patient(app)
    token = auth.csrf(client)
    response = client.post(
        "/login?tab=users&next=//evil.example/x",
        data={
            "csrf_token": token,
            "email": "alice@example.org",
            "username": "alice",
            "password": auth.PATIENT_PW,
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


def test_passwords_are_argon2id_at_owasp_parameters(app, auth):
    user, _ = auth.make_patient(app)
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


def test_patient_turns_on_totp_after_proving_the_app_has_it(app, client, auth):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    token = auth.csrf(client, "/account/totp")
    page = client.post("/account/totp", data={"csrf_token": token, "action": "start"})
    text = page.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]{32})<', text)[1]
    assert 'name="secret"' not in text, "the pending secret stays on the server"
    assert 'src="data:image/svg+xml' in text
    form = {"csrf_token": token, "action": "confirm", "password": auth.PATIENT_PW}
    wrong = client.post("/account/totp", data={**form, "totp": "12345"})
    assert wrong.status_code == 400
    code = pyotp.TOTP(secret).now()
    done = client.post("/account/totp", data={**form, "totp": code})
    assert "Turned on" in done.get_data(as_text=True)
    _sign_out(auth, client)
    assert auth.sign_in_patient(client).status_code == 401, "the password alone is not enough now"
    assert auth.sign_in_patient(client, code=code).status_code == 401, "the set-up code was used"
    later = pyotp.TOTP(secret).at(time.time() + 30)
    assert auth.sign_in_patient(client, code=later).status_code == 302


def test_parallel_guesses_cannot_pass_the_limit(app, auth):
    from concurrent.futures import ThreadPoolExecutor

    auth.make_patient(app)
    clients = [app.test_client() for _ in range(12)]
    tokens = [auth.csrf(c) for c in clients]

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


def test_successful_sign_ins_do_not_use_up_the_address(app, client, auth):
    app.config["THROTTLE"] = type(app.config["THROTTLE"])(per_account=5, per_address=2)
    auth.make_patient(app)
    for _ in range(3):
        assert auth.sign_in_patient(client).status_code == 302
        _sign_out(auth, client)
    assert auth.sign_in_patient(client, password="wrong password 123").status_code == 401


def test_sign_in_labels_are_peoples_words_beside_the_designs_captions(client):
    doctors = client.get("/login?tab=doctors").text
    for label, caption in (
        ("Your doctor ID", "Dr_ID"),
        ("Your name", "Dr_name"),
        ("Your identity card number", "Dr_IC"),
        ("Code from your authenticator app", "TwoFA"),
    ):
        assert f"{label} <small>{caption}" in doctors
    users = client.get("/login").text
    assert "User Name" in users and "Code from your authenticator app" in users


def test_the_forgotten_password_page_speaks_to_a_person_not_an_operator(client):
    page = client.get("/forgot").text
    assert "python -m" not in page and "<code>" not in page
    assert "ask your administrator, or the\n     carer" in page.replace("Please ask", "ask")


def test_a_doctor_is_named_with_one_title():
    assert accounts.doctor_name("Grace Tan") == "Dr. Grace Tan"
    assert accounts.doctor_name("Dr Demo") == "Dr Demo"
    assert accounts.doctor_name("dr. Lim") == "dr. Lim"
    assert accounts.doctor_name("Drew Barry") == "Dr. Drew Barry"
