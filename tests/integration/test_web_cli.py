"""The admin CLI as a subprocess, and the web process's clean stop with a live stream open."""

import http.client
import re
import subprocess
import sys
import urllib.parse

import pyotp
import pytest

from services.web import accounts, keys
from services.web import db as schema
from tests.support import browser
from tests.support.net import free_port
from tests.support.services import ROOT

PW = "correct horse battery 7"


@pytest.fixture
def cli_env(tmp_path, database_url):
    # No broker listens on this port: assignments are kept and published later.
    return {
        "SMARTCAB_DATA_DIR": str(tmp_path / "data"),
        "MQTT_PORT": str(free_port()),
        "DATABASE_URL": database_url,
    }


def test_users_are_added_listed_and_reset(cli_env, tmp_path, app_database):
    assert "patient alice created" in browser.cli(
        cli_env,
        "users",
        "add-patient",
        "--email",
        "Alice@Example.org",
        "--username",
        "alice",
        password=PW,
    )
    out = browser.cli(
        cli_env,
        "users",
        "add-doctor",
        "--id",
        "D7",
        "--name",
        "Ann Lee",
        "--ic",
        "S99887766",
        password="a long doctor passphrase",
    )
    secret = re.search(r"TOTP secret: ([A-Z2-7]{32})", out)[1]
    assert f"otpauth://totp/Health%20Plus:D7?secret={secret}&issuer=Health%20Plus" in out
    assert "█" in out or "▀" in out  # the terminal QR code
    listing = browser.cli(cli_env, "users", "list")
    assert re.search(r"patient\s+alice\s+alice@example.org", listing)
    assert re.search(r"doctor\s+D7\s+-\s+Ann Lee totp", listing)
    browser.cli(cli_env, "users", "reset-password", "alice", password="another fine passphrase")
    conn = schema.connect(app_database)
    try:
        row = accounts.patient_row(conn, "alice@example.org", "alice")
        secret_keys = keys.load(tmp_path / "data" / "web-secret.key")
        assert accounts.authenticate(conn, row, "another fine passphrase", "", secret_keys)
        assert accounts.authenticate(conn, row, PW, "", secret_keys) is None
    finally:
        conn.close()


def _run(env, *args, stdin=""):
    return subprocess.run(
        [sys.executable, "-m", "services.web", *args],
        cwd=ROOT,
        env={**env, "PATH": "/usr/bin"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_input_is_refused_with_a_reason(cli_env):
    weak = _run(
        cli_env,
        "users",
        "add-patient",
        "--email",
        "b@example.org",
        "--username",
        "bob",
        "--password-stdin",
        stdin="password1234\n",
    )
    assert weak.returncode == 1 and "too common" in weak.stderr
    browser.cli(
        cli_env,
        "users",
        "add-patient",
        "--email",
        "b@example.org",
        "--username",
        "bob",
        password=PW,
    )
    twice = _run(
        cli_env,
        "users",
        "add-patient",
        "--email",
        "b@example.org",
        "--username",
        "bob",
        "--password-stdin",
        stdin=PW + "\n",
    )
    assert twice.returncode == 1 and "already exists" in twice.stderr
    nobody = _run(cli_env, "devices", "assign", "wch", "--patient", "zed")
    assert nobody.returncode == 1 and "no patient" in nobody.stderr
    slash = _run(cli_env, "devices", "assign", "w/ch", "--patient", "bob")
    assert slash.returncode == 1 and "device id" in slash.stderr


def test_assignment_without_a_broker_is_kept_for_later(cli_env):
    browser.cli(
        cli_env,
        "users",
        "add-patient",
        "--email",
        "c@example.org",
        "--username",
        "cat",
        password=PW,
    )
    out = browser.cli(cli_env, "devices", "assign", "wch", "--patient", "cat")
    assert "broker not reachable" in out
    assert re.search(r"wch\s+cat", browser.cli(cli_env, "devices", "list"))


def test_sigterm_stops_the_server_cleanly_with_a_stream_open(tmp_path, broker):
    server = browser.web(tmp_path, broker.env())
    env = {**broker.env(), "SMARTCAB_DATA_DIR": server.env["SMARTCAB_DATA_DIR"]}
    out = browser.cli(
        env,
        "users",
        "add-patient",
        "--email",
        "d@example.org",
        "--username",
        "dan",
        "--totp",
        password=PW,
    )
    secret = re.search(r"TOTP secret: (\w+)", out)[1]
    server.start()
    try:
        cookie = _sign_in(server.port, "d@example.org", "dan", PW, pyotp.TOTP(secret).now())
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/api/p/dan/events", headers={"Cookie": cookie})
        response = conn.getresponse()
        assert response.status == 200
        assert response.read(6) == b"retry:"
        assert server.stop() == 0
        assert "event=web.stopped" in server.log_text()
        conn.close()
    finally:
        server.kill()


def _sign_in(port, email, username, password, code) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/login")
        page = conn.getresponse()
        cookie = page.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode())[1]
        form = urllib.parse.urlencode(
            {
                "csrf_token": token,
                "email": email,
                "username": username,
                "password": password,
                "totp": code,
            }
        )
        conn.request(
            "POST",
            "/login?tab=users",
            body=form,
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 302, answer.status
        return answer.getheader("Set-Cookie").split(";")[0]
    finally:
        conn.close()
