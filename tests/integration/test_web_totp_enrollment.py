"""Over HTTP: TOTP set-up on the server's side, the password asked again, recovery codes."""

import re
import time

import pyotp
import pytest
from click.testing import CliRunner

from services.web import create_app, db, stop_background, twostep
from services.web.cli import cli
from services.web.errors import ValidationError
from services.web.settings import Settings


def _start(auth, client) -> tuple[str, str]:
    token = auth.csrf(client, "/account/totp")
    page = client.post("/account/totp", data={"csrf_token": token, "action": "start"})
    return token, re.search(r'id="totp-secret">([A-Z2-7]{32})<', page.get_data(as_text=True))[1]


def _enroll(auth, client) -> tuple[str, list[str]]:
    token, secret = _start(auth, client)
    form = {"csrf_token": token, "action": "confirm", "password": auth.PATIENT_PW}
    done = client.post("/account/totp", data={**form, "totp": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li>([a-z0-9]{5}-[a-z0-9]{5})</li>", done.get_data(as_text=True))
    return secret, codes


def _row(app, username="alice"):
    conn = db.connect(app.config["DATABASE"])
    try:
        return conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    finally:
        conn.close()


def test_a_posted_secret_is_ignored_and_cannot_brick_the_account(auth, app, client):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    token = auth.csrf(client, "/account/totp")
    bang = client.post(
        "/account/totp",
        data={"csrf_token": token, "action": "confirm", "secret": "!" * 32, "totp": "123456"},
    )
    assert bang.status_code == 400
    assert _row(app)["totp_secret"] is None
    with pytest.raises(ValidationError):
        twostep.store_secret(None, 1, "!" * 32, app.extensions["smartcab.keys"])
    client.post("/logout", data={"csrf_token": auth.csrf(client, "/forgot")})
    assert auth.sign_in_patient(client).status_code == 302, "the account still signs in"


def test_turning_totp_on_or_off_asks_for_the_password(auth, app, client):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    token, secret = _start(auth, client)
    form = {"csrf_token": token, "action": "confirm", "totp": pyotp.TOTP(secret).now()}
    stolen = client.post("/account/totp", data={**form, "password": "a guess at it 123"})
    assert stolen.status_code == 400 and _row(app)["totp_secret"] is None
    _enroll(auth, client)
    assert _row(app)["totp_secret"]
    off = {"csrf_token": token, "action": "disable"}
    assert client.post("/account/totp", data={**off, "password": "wrong 12345"}).status_code == 400
    assert _row(app)["totp_secret"]
    done = client.post("/account/totp", data={**off, "password": auth.PATIENT_PW})
    assert "Turned off" in done.get_data(as_text=True) and _row(app)["totp_secret"] is None


def test_recovery_codes_sign_in_once_each_and_are_stored_hashed(auth, app, client):
    auth.make_patient(app)
    auth.sign_in_patient(client)
    _, codes = _enroll(auth, client)
    assert len(codes) == 10
    client.post("/logout", data={"csrf_token": auth.csrf(client, "/forgot")})
    assert auth.sign_in_patient(client, code=codes[0]).status_code == 302
    client.post("/logout", data={"csrf_token": auth.csrf(client, "/forgot")})
    assert auth.sign_in_patient(client, code=codes[0]).status_code == 401, "used up"
    conn = db.connect(app.config["DATABASE"])
    try:
        hashes = [r[0] for r in conn.execute("SELECT code_hash FROM recovery_codes")]
    finally:
        conn.close()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(c.replace("-", "") in h for c in codes for h in hashes)


def test_totp_secrets_are_encrypted_at_rest_and_clear_ones_are_migrated(
    auth, tmp_path, app, client
):
    _, secret = auth.make_doctor(app)
    conn = db.connect(app.config["DATABASE"])
    value = conn.execute("SELECT totp_secret FROM users").fetchone()[0]
    conn.close()
    assert value.startswith("gAAAAA") and secret not in value
    auth.make_patient(app)
    clear = pyotp.random_base32()
    conn = db.connect(app.config["DATABASE"])
    conn.execute("UPDATE users SET totp_secret = ? WHERE username = 'alice'", (clear,))
    conn.close()
    env = {"SMARTCAB_DATA_DIR": str(app.config["SETTINGS"].data_dir), "WEB_LIVE": "0"}
    env["DATABASE_URL"] = app.config["SETTINGS"].database_url
    again = create_app({"TESTING": True}, Settings.from_env(env))
    assert _row(again)["totp_secret"].startswith("gAAAAA")
    later = pyotp.TOTP(clear).at(time.time())
    assert auth.sign_in_patient(again.test_client(), code=later).status_code == 302
    stop_background(again)


def _admin(app, *args):
    env = {"SMARTCAB_DATA_DIR": str(app.config["SETTINGS"].data_dir), "WEB_LIVE": "0"}
    env["DATABASE_URL"] = app.config["SETTINGS"].database_url
    result = CliRunner().invoke(cli, ["users", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_admin_disables_enables_and_resets_totp_and_each_is_logged(auth, app, client):
    auth.make_patient(app, totp=True)
    _, secret = auth.make_doctor(app)
    signed_in = app.test_client()
    auth.sign_in_patient(signed_in, code=pyotp.TOTP(_secret_of(app)).now())
    assert signed_in.get("/p/alice").status_code == 200
    _admin(app, "disable", "alice")
    assert signed_in.get("/p/alice").status_code == 302, "the disabled account's session ended"
    assert (
        auth.sign_in_patient(
            client, code=pyotp.TOTP(_secret_of(app)).at(time.time() + 30)
        ).status_code
        == 401
    )
    _admin(app, "enable", "alice")
    _admin(app, "reset-totp", "alice")
    assert auth.sign_in_patient(client).status_code == 302, (
        "a reset patient signs in with the password"
    )
    out = _admin(app, "reset-totp", "D100")
    new = re.search(r"TOTP secret: ([A-Z2-7]{32})", out)[1]
    assert new != secret and "Recovery codes" in out
    conn = db.connect(app.config["DATABASE"])
    try:
        logged = [r[0] for r in conn.execute("SELECT action FROM admin_log ORDER BY id")]
    finally:
        conn.close()
    assert logged == ["user.disable", "user.enable", "user.reset_totp", "user.reset_totp"]


def _secret_of(app) -> str:
    return twostep.secret_of(_row(app), app.extensions["smartcab.keys"])
