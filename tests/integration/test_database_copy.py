"""``python -m services.web database copy``: a home's SQLite database moved into PostgreSQL.

The copy runs as the operator runs it, a real process against a real PostgreSQL; the
web then serves the same people from the new database. A copy that cannot be made
whole writes nothing.
"""

import os
import subprocess
import sys
import time

import pyotp

from services.common.database import DATABASE_FILE, Database
from services.web import create_app, db_copy, stop_background
from services.web import db as schema
from services.web.settings import Settings
from tests.support.net import free_port
from tests.support.postgres import APP_PASSWORD
from tests.support.services import ROOT


def _app(data_dir, url: str = ""):
    env = {
        "SMARTCAB_DATA_DIR": str(data_dir),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
        "WEB_LIVE": "0",
        "DATABASE_URL": url,
    }
    return create_app({"TESTING": True}, settings=Settings.from_env(env))


def _copy(data_dir, *args: str, url: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "SMARTCAB_DATA_DIR": str(data_dir), "DATABASE_URL": url}
    command = [sys.executable, "-m", "services.web", "database", "copy", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def _home(data_dir, auth) -> str:
    """A home's database as people made it: accounts, a share, habits, a medicine, the audit."""
    app = _app(data_dir)
    try:
        _, _, secret = auth.make_shared(app)
        patient = app.test_client()
        auth.sign_in_patient(patient, "alice")
        token = auth.csrf(patient, "/p/alice/habits")
        patient.post(
            "/p/alice/habits", data={"csrf_token": token, "day": "2026-11-30", "water": "7"}
        )
        form = {
            "name": "Metformin",
            "item": "pill-a",
            "times": "08:00",
            "window": "60",
            "dose": "1",
        }
        added = patient.post("/p/alice/medications", data={"csrf_token": token, **form})
        assert added.status_code == 302
        doctor = app.test_client()
        auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
        assert doctor.get("/p/alice/habits").status_code == 200  # audited
    finally:
        stop_background(app)
    return secret


def _tables(database: Database) -> list[str]:
    conn = schema.connect(database)
    try:
        return db_copy._tables(conn)
    finally:
        conn.close()


def _rows(database: Database, names: list[str], columns: dict[str, str]) -> dict[str, list]:
    conn = schema.connect(database)
    try:
        return {
            name: sorted(
                (tuple(r) for r in conn.execute(f'SELECT {columns[name]} FROM "{name}"')), key=repr
            )
            for name in names
        }
    finally:
        conn.close()


def _columns(database: Database, names: list[str]) -> dict[str, str]:
    conn = schema.connect(database)
    try:
        return {n: ", ".join(f'"{c}"' for c in db_copy._columns_src(conn, n)) for n in names}
    finally:
        conn.close()


def test_a_homes_database_moves_whole_and_the_web_serves_it_from_postgresql(
    tmp_path, auth, postgres
):
    data_dir = tmp_path / "web"
    secret = _home(data_dir, auth)
    sqlite = Database.of(data_dir / DATABASE_FILE)
    url = postgres.url(postgres.new_database())

    # as in a deployment whose DATABASE_URL already names the new database
    done = _copy(data_dir, url=url)
    assert done.returncode == 0, done.stderr
    assert "users: 2\n" in done.stdout and "habits: 1\n" in done.stdout
    assert APP_PASSWORD not in done.stdout + done.stderr, "the URL's password is never shown"

    names = _tables(sqlite)
    columns = _columns(sqlite, names)
    before, after = _rows(sqlite, names, columns), _rows(Database.of(url), names, columns)
    copied = [r for r in after.pop("admin_log") if r not in before.pop("admin_log")]
    assert after == before, "every row of every table, as it was"
    assert [r[-2:] for r in copied] == [("database.copy", f"from {data_dir / DATABASE_FILE}")]
    held = {n for n, rows in before.items() if rows}
    assert {"users", "shares", "sessions", "audit", "habits", "medications"} <= held

    app = _app(data_dir, url)  # the same data folder: the same keys for TOTP secrets
    try:
        client = app.test_client()
        auth.sign_in_patient(client, "alice")
        page = client.get("/p/alice/habits?end=2026-11-30").text
        assert "Metformin" in client.get("/p/alice/medications").text
        assert ">7<" in page.replace(" ", "")
        # the ids carried over: a new account takes the next one, not a copied one's
        bob, _ = auth.make_patient(app, "bob")
        assert bob.id == 3
        doctor = app.test_client()
        # His last code's step came along too, so it cannot be used again: the next one
        auth.sign_in_doctor(doctor, pyotp.TOTP(secret).at(time.time() + 30))
        assert doctor.get("/p/alice/habits").status_code == 200
    finally:
        stop_background(app)


def test_a_copy_that_cannot_be_whole_writes_nothing(tmp_path, auth, postgres):
    data_dir = tmp_path / "web"
    _home(data_dir, auth)
    sqlite = Database.of(data_dir / DATABASE_FILE)
    url = postgres.url(postgres.new_database())
    assert _copy(data_dir, "--to", url).returncode == 0
    names = _tables(sqlite)
    columns = _columns(sqlite, names)
    kept = _rows(Database.of(url), names, columns)

    again = _copy(data_dir, "--to", url)
    assert again.returncode == 1 and "already holds data" in again.stderr
    assert _rows(Database.of(url), names, columns) == kept

    # A value PostgreSQL's column cannot hold (SQLite kept it as text): all or nothing.
    conn = schema.connect(sqlite)
    try:
        conn.execute("UPDATE habits SET value = 'seven'")
    finally:
        conn.close()
    fresh = postgres.url(postgres.new_database())
    bad = _copy(data_dir, "--to", fresh)
    assert bad.returncode == 1 and "error: table habits:" in bad.stderr
    assert all(not rows for rows in _rows(Database.of(fresh), names, columns).values())

    closed = f"postgresql://smartcab:x@127.0.0.1:{free_port()}/smartcab"
    down = _copy(data_dir, "--to", closed)
    assert down.returncode == 1 and "nothing was copied: cannot open the database" in down.stderr
    assert "Traceback" not in down.stderr and ":x@" not in down.stderr
    wrong = _copy(data_dir, "--to", str(tmp_path / "other.db"))
    assert wrong.returncode == 1 and "postgresql://" in wrong.stderr


def test_the_command_says_what_it_needs(tmp_path):
    usage = _copy(tmp_path, "--to")
    assert usage.returncode == 2 and "--to" in usage.stderr
    nowhere = _copy(tmp_path)
    assert nowhere.returncode == 1 and "give --to a postgresql:// URL" in nowhere.stderr
    empty = _copy(tmp_path, "--to", "postgresql://smartcab@127.0.0.1:1/smartcab")
    assert empty.returncode == 1 and f"no database at {tmp_path / DATABASE_FILE}" in empty.stderr
