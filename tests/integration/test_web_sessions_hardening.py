"""Over HTTP: stateless anonymous CSRF, masked tokens, idle timeout, sweep, flashes, limits."""

import re

from services.web import create_app, db, stop_background
from services.web.ratelimit import Limit, RateLimits
from services.web.settings import Settings


def _count(app, sql: str) -> int:
    conn = db.connect(app.config["DATABASE"])
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_anonymous_visitors_write_no_session_rows(auth, app):
    for _ in range(5):
        assert app.test_client().get("/login").status_code == 200
    assert _count(app, "SELECT COUNT(*) FROM sessions") == 0
    auth.make_patient(app)
    client = app.test_client()
    assert auth.sign_in_patient(client).status_code == 302, "the stateless token signs in"
    assert _count(app, "SELECT COUNT(*) FROM sessions") == 1


def test_an_anonymous_token_only_works_with_its_own_cookie(auth, app):
    auth.make_patient(app)
    attacker, victim = app.test_client(), app.test_client()
    token = auth.csrf(attacker)
    auth.csrf(victim)
    form = {"csrf_token": token, "email": "alice@example.org", "username": "alice"}
    assert victim.post("/login", data={**form, "password": auth.PATIENT_PW}).status_code == 403


def test_the_csrf_token_is_masked_differently_on_every_page(auth, app, client):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    first, second = auth.csrf(client, "/p/alice"), auth.csrf(client, "/p/alice")
    assert first != second
    for token in (first, second):
        sent = client.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "NOPE"})
        assert sent.status_code == 400, "each masked token is accepted (and the form answers)"


def test_sessions_end_after_an_idle_time(auth, app, client):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    assert client.get("/p/alice").status_code == 200
    idle = app.config["SESSION_IDLE_SECONDS"]
    conn = db.connect(app.config["DATABASE"])
    conn.execute(
        "UPDATE sessions SET last_seen = last_seen - ?, created_at = created_at - ?",
        (idle + 5, idle + 5),
    )
    conn.close()
    assert client.get("/p/alice").status_code == 302, "idle too long: signed out"


def test_ended_sessions_are_swept_on_a_schedule_with_an_index(auth, app, client):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    conn = db.connect(app.config["DATABASE"])
    conn.execute("UPDATE sessions SET expires_at = 1")
    if conn.dialect == "sqlite":
        query = "EXPLAIN QUERY PLAN DELETE FROM sessions WHERE expires_at < 5"
    else:  # PostgreSQL plans a table this small as a scan: let it show what it would use
        conn.execute("SET enable_seqscan = off")
        query = "EXPLAIN DELETE FROM sessions WHERE expires_at < 5"
    plan = conn.execute(query).fetchall()
    conn.close()
    assert any("sessions_expiry" in row[-1] for row in plan), plan
    app.config["SESSION_SWEEP_SECONDS"] = 0
    client.get("/login")
    assert _count(app, "SELECT COUNT(*) FROM sessions") == 0


def test_query_parameters_are_never_shown_as_page_text(auth, app, client):
    auth.make_patient(app)
    auth.make_doctor(app)
    auth.sign_in_patient(client)
    token = auth.csrf(client, "/p/alice/sharing")
    done = client.post("/p/alice/sharing", data={"csrf_token": token, "dr_id": "D100"})
    assert done.status_code == 302 and "D100" not in done.headers["Location"]
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Dr. Grace Tan (D100) can now see your health data." in page
    again = client.get("/p/alice/sharing?granted=D-EVIL").get_data(as_text=True)
    assert "D-EVIL" not in again and "can now see" not in again, "a flash shows once"
    habits = client.get("/p/alice/habits?saved=EVIL-TEXT").get_data(as_text=True)
    assert "EVIL-TEXT" not in habits


def test_cookies_take_the_host_prefix_over_https(auth, tmp_path):
    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        "WEB_LIVE": "0",
        "WEB_BASE_URL": "https://health.example",
    }
    app = create_app({"TESTING": True}, Settings.from_env(env))
    auth.make_patient(app)
    client = app.test_client()
    page = client.get("/login", base_url="https://health.example").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    form = {"csrf_token": token, "email": "alice@example.org", "username": "alice"}
    signed = client.post(
        "/login", data={**form, "password": auth.PATIENT_PW}, base_url="https://health.example"
    )
    assert signed.status_code == 302
    cookies = signed.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("__Host-hp_session="))
    assert "Secure" in session and "Path=/" in session and "Domain" not in session
    stop_background(app)


def test_costly_actions_are_rate_limited_per_user(auth, app, client):
    auth.make_patient(app)
    auth.make_patient(app, "bob")
    app.extensions["smartcab.limits"] = RateLimits(
        {"report": Limit(2, 3600, "report requests"), "export": Limit(1, 3600, "large exports")}
    )
    auth.sign_in_patient(client)
    headers = {"X-CSRF-Token": auth.csrf(client, "/p/alice"), "Accept": "application/json"}
    for _ in range(2):
        assert (
            client.post("/api/p/alice/reports", json={"days": 7}, headers=headers).status_code
            == 503
        )
    refused = client.post("/api/p/alice/reports", json={"days": 7}, headers=headers)
    assert refused.status_code == 429
    assert "Too many report requests: at most 2 in an hour" in refused.json["detail"]
    client.get("/p/alice/datasheet.csv").close()
    assert client.get("/p/alice/datasheet.csv").status_code == 429
    other = app.test_client()
    auth.sign_in_patient(other, "bob")
    bob = {"X-CSRF-Token": auth.csrf(other, "/p/bob"), "Accept": "application/json"}
    # Each person has their own count: bob is not refused for alice's requests.
    assert other.post("/api/p/bob/reports", json={"days": 7}, headers=bob).status_code == 503


def test_sign_out_everywhere_ends_every_session_of_the_account(auth, app):
    auth.make_patient(app)
    phone, laptop = app.test_client(), app.test_client()
    auth.sign_in_patient(phone)
    auth.sign_in_patient(laptop)
    done = laptop.post("/logout/everywhere", data={"csrf_token": auth.csrf(laptop, "/p/alice")})
    assert done.status_code == 302
    assert phone.get("/p/alice").status_code == 302, "the other device is signed out too"
    assert _count(app, "SELECT COUNT(*) FROM sessions") == 0
