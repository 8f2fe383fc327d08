"""Two dashboards on one real PostgreSQL behind a real HAProxy, and the reporter's read-only role.

A session made on one instance works on the other, sign-in failures count across both,
a live stream works from either, two instances migrate a new database at once, the
database going away is a clear 503 that loses nothing, and the reporter's role reads
and never writes.
"""

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar

import pytest

from services.common.database import Database, DatabaseError
from services.reporter.webdb import WebDirectory
from services.web import db as schema
from tests.support import browser
from tests.support.haproxy import WEB_CONFIG, WEB_NAMES, Balancer
from tests.support.net import free_port, wait_until
from tests.support.postgres import PostgresServer
from tests.support.services import ROOT, ServiceProcess

PW = "correct horse battery 7"


@dataclass(frozen=True)
class Reply:
    status: int
    url: str
    text: str


class Visitor:
    """One browser's cookies, sent to whichever address it is pointed at."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def _open(self, url: str | urllib.request.Request, data: bytes | None = None) -> Reply:
        try:
            answer = self.opener.open(url, data=data, timeout=10)
        except urllib.error.HTTPError as exc:
            answer = exc
        with answer:
            return Reply(answer.status, answer.geturl(), answer.read().decode())

    def get(self, url: str) -> Reply:
        return self._open(url)

    def post(self, url: str, form: dict) -> Reply:
        return self._open(url, urllib.parse.urlencode(form).encode())

    def api_post(self, url: str, body: dict, csrf: str) -> Reply:
        headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
        return self._open(urllib.request.Request(url, json.dumps(body).encode(), headers))

    def csrf(self, url: str) -> str:
        page = self.get(url).text
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def sign_in(self, base: str, password: str = PW) -> Reply:
        token = self.csrf(f"{base}/login")
        form = {"csrf_token": token, "email": "alice@example.org", "username": "alice"}
        return self.post(f"{base}/login?tab=users", {**form, "password": password, "totp": ""})

    def signed_in_at(self, base: str) -> bool:
        """Her monitoring page, not the sign-in form, answers at ``base``."""
        answer = self.get(f"{base}/p/alice/monitoring")
        return answer.status == 200 and "/login" not in answer.url


def _healthcheck(url: str) -> int:
    """The compose file's health check of the web (deploy/healthcheck.py http URL)."""
    command = [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), "http", url]
    return subprocess.run(command, capture_output=True, timeout=30).returncode


def _env(tmp_path, broker, url: str) -> dict[str, str]:
    return {
        **broker.env(),
        "DATABASE_URL": url,
        # every instance signs and encrypts with the same key
        "WEB_SECRET_KEY_FILE": str(tmp_path / "web-secret.key"),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
    }


def _alice(env: dict[str, str], tmp_path) -> None:
    cli_env = {**env, "SMARTCAB_DATA_DIR": str(tmp_path / "cli")}
    args = ("users", "add-patient", "--email", "alice@example.org", "--username", "alice")
    browser.cli(cli_env, *args, password=PW)
    browser.cli(cli_env, "devices", "assign", "wch", "--patient", "alice")


def _web(tmp_path, name: str, env: dict[str, str]):
    folder = tmp_path / name
    folder.mkdir()
    return browser.web(folder, env)  # its own data folder: nothing on disk is shared


@dataclass(frozen=True)
class Pair:
    proxy: str
    a: str
    b: str
    database_url: str


@pytest.fixture
def pair(tmp_path, broker, postgres):
    """Alice, two dashboards on one PostgreSQL database, and HAProxy in front of them."""
    url = postgres.url(postgres.new_database())
    env = _env(tmp_path, broker, url)
    _alice(env, tmp_path)
    with contextlib.ExitStack() as started:
        a, b = (_started(started, _web(tmp_path, name, env)) for name in "ab")
        balancer = Balancer(tmp_path, a.port, b.port, WEB_CONFIG, WEB_NAMES).start()
        started.callback(balancer.stop)
        yield Pair(*(f"http://127.0.0.1:{p}" for p in (balancer.port, a.port, b.port)), url)


def _started(stack: contextlib.ExitStack, web: ServiceProcess) -> ServiceProcess:
    """Start ``web``; the stack stops it (kills it, if it will not stop) whatever happens."""
    web.start()
    stack.callback(_stop, web)
    return web


def _stop(web: ServiceProcess) -> None:
    try:
        web.stop()
    except subprocess.TimeoutExpired:
        web.kill()


def test_a_session_made_on_one_instance_works_on_the_other(pair):
    proxy, a, b = pair.proxy, pair.a, pair.b
    visitor = Visitor()
    assert visitor.sign_in(a).status == 200
    assert visitor.signed_in_at(b) and visitor.signed_in_at(a)
    # through the balancer, which sends each request to the next instance in turn
    assert all(visitor.signed_in_at(proxy) for _ in range(4))
    # signing out on B ends the session on A too
    visitor.post(f"{b}/logout", {"csrf_token": visitor.csrf(f"{b}/p/alice/monitoring")})
    assert not visitor.signed_in_at(a)


def test_sign_in_failures_count_across_both_instances(pair):
    a, b = pair.a, pair.b
    guesser = Visitor()
    for base in (a, b, a, b, a):  # five wrong passwords, the account's limit, spread
        answer = guesser.sign_in(base, password="wrong password 1")
        assert answer.status == 401
    # B saw two of them itself; the sixth try is refused wherever it goes
    for base in (b, a):
        refused = guesser.sign_in(base, password="wrong password 1")
        assert refused.status == 429
    # even with the right password, from this address, until the window passes
    assert Visitor().sign_in(b).status == 429


def _stream(visitor: Visitor, base: str, events: list, ready: threading.Event) -> None:
    with visitor.opener.open(f"{base}/api/p/alice/events", timeout=20) as stream:
        ready.set()
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data:") and '"value"' in line:
                events.append(json.loads(line[5:]))
                return


def test_a_live_stream_works_from_either_instance(pair, mqtt_log):
    a, b = pair.a, pair.b
    visitor = Visitor()
    visitor.sign_in(a)
    got: dict[str, list] = {a: [], b: []}
    threads = []
    for base in (a, b):
        ready = threading.Event()
        thread = threading.Thread(target=_stream, args=(visitor, base, got[base], ready))
        thread.start()
        assert ready.wait(10)
        threads.append(thread)

    def publish() -> bool:
        body = {"device": "wch", "metric": "bpm", "value": 71, "unit": "bpm",
                "ts": "2026-01-01T00:00:00.000Z"}  # fmt: skip
        mqtt_log.publish("smartcab/devices/wch/vitals/bpm", json.dumps(body))
        return all(got.values())

    wait_until(publish, 15, interval=0.5, what="the reading on both streams")
    for thread in threads:
        thread.join(10)
    assert got[a][0]["value"] == got[b][0]["value"] == 71


def test_a_report_asked_for_on_one_instance_is_followed_on_the_other(pair, mqtt_log):
    a, b = pair.a, pair.b
    visitor = Visitor()
    visitor.sign_in(a)
    csrf = visitor.csrf(f"{a}/p/alice/report")
    asked = visitor.api_post(f"{a}/api/p/alice/reports", {"days": 7, "format": "pdf"}, csrf)
    assert asked.status == 202
    report_id = json.loads(asked.text)["id"]
    status = f"{b}/api/p/alice/reports/{report_id}"
    assert json.loads(visitor.get(status).text)["stage"] == "sent"
    # the reporter's progress, as it publishes it: B follows it though A sent the request
    mqtt_log.publish(f"smartcab/reports/progress/{report_id}", json.dumps({"stage": "rendering"}))
    wait_until(lambda: json.loads(visitor.get(status).text)["stage"] == "rendering", 10)
    assert visitor.get(f"{b}/api/p/alice/reports/made-up-id").status == 404


def test_each_reporter_verdict_is_audited_once_whichever_instances_hear_it(pair, mqtt_log):
    verdict = {
        "at": 1_790_000_000, "actor": {"role": "patient", "id": "alice"}, "patient": "alice",
        "action": "report.pdf", "ok": True, "error": None,
    }  # fmt: skip
    mqtt_log.publish("smartcab/reports/audit", json.dumps(verdict))
    url = pair.database_url

    def audited() -> list:
        with Database.of(url).connect() as conn:
            return conn.execute("SELECT action FROM audit WHERE path = 'reporter'").fetchall()

    wait_until(audited, 10, what="the verdict in the audit log")
    time.sleep(1)  # both instances have heard it by now
    assert [row[0] for row in audited()] == ["report.pdf made"]


def test_two_instances_migrate_a_new_database_at_once(postgres):
    url = postgres.url(postgres.new_database())
    versions: list[int] = []
    threads = [threading.Thread(target=lambda: versions.append(schema.migrate(url))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    newest = schema.MIGRATIONS[-1][0]
    assert versions == [newest, newest]
    with Database.of(url).connect() as conn:
        steps = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert steps == [number for number, _ in schema.MIGRATIONS], "each step ran once"


def test_the_reporter_role_reads_and_never_writes(tmp_path, broker, postgres):
    name = postgres.new_database()
    _alice(_env(tmp_path, broker, postgres.url(name)), tmp_path)
    with WebDirectory(Database.of(postgres.url(name, reader=True))) as directory:
        assert directory.patient("alice").username == "alice"
    reader = Database.of(postgres.url(name, reader=True)).connect()
    try:
        with pytest.raises(DatabaseError, match="read-only transaction"):
            reader.execute("UPDATE users SET display_name = 'x'")
        # even a session that turns read-only off has no right to write
        reader.execute("SET default_transaction_read_only = off")
        with pytest.raises(DatabaseError, match="permission denied"):
            reader.execute("DELETE FROM sessions")
    finally:
        reader.close()


def test_the_database_going_away_is_a_clear_503_and_loses_nothing(tmp_path, broker):
    server = PostgresServer().start()
    with contextlib.ExitStack() as started:
        started.callback(server.stop)
        env = _env(tmp_path, broker, server.url(server.new_database()))
        _alice(env, tmp_path)
        web = _started(started, _web(tmp_path, "a", env))
        base = f"http://127.0.0.1:{web.port}"
        visitor = Visitor()
        visitor.sign_in(base)
        assert visitor.signed_in_at(base)
        server.kill()
        page = visitor.get(f"{base}/p/alice/monitoring")
        assert page.status == 503 and "database cannot be reached" in page.text
        assert visitor.get(f"{base}/healthz").status == 503
        assert _healthcheck(f"{base}/healthz") == 1, "compose's health check sees it"
        assert "web.database_unavailable" in web.log_text()
        server.launch()
        assert visitor.get(f"{base}/healthz").status == 200
        assert _healthcheck(f"{base}/healthz") == 0
        assert visitor.signed_in_at(base), "the session outlived the outage"


def test_a_wrong_database_password_stops_the_web_with_a_clear_error(tmp_path, broker, postgres):
    url = postgres.url(postgres.new_database()).replace("app-pw-for-tests", "not-the-password")
    env = {**_env(tmp_path, broker, url), "SMARTCAB_DATA_DIR": str(tmp_path / "web-data")}
    web = ServiceProcess("web", tmp_path, {**env, "WEB_PORT": str(free_port())}).start()
    assert web.proc.wait(30) == 2
    web.stop()
    log = web.log_text()
    assert "web.database_unavailable" in log and "password authentication failed" in log
    assert "not-the-password" not in log, "the log never shows the password"
