"""Fixtures shared by unit and integration tests: the dashboard's app and signing in to it.

Fixtures that start servers live in ``tests/integration/conftest.py``.
"""

import os
import re

import pytest

from services.web import accounts
from services.web import db as schema

PATIENT_PW = "correct horse battery 7"
DOCTOR_PW = "stethoscope-orbit-42"


class AuthActions:
    """Make accounts and sign in through the dashboard's own forms, on any app and client."""

    PATIENT_PW = PATIENT_PW
    DOCTOR_PW = DOCTOR_PW

    def make_patient(self, app, username="alice", email=None, totp=False):
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

    def make_doctor(self, app, dr_id="D100", name="Grace Tan", ic="S1234567A"):
        conn = schema.connect(app.config["DATABASE"])
        try:
            user, secret = accounts.create_doctor(
                conn, dr_id, name, ic, DOCTOR_PW, None, app.extensions["smartcab.keys"]
            )
        finally:
            conn.close()
        return user, secret

    def make_shared(self, app, username="alice"):
        """A patient, doctor D100 and her share with him: (patient, doctor, his TOTP secret)."""
        from services.web import access

        patient, _ = self.make_patient(app, username)
        doctor, secret = self.make_doctor(app)
        conn = schema.connect(app.config["DATABASE"])
        try:
            access.share(conn, patient.id, doctor.id)
        finally:
            conn.close()
        return patient, doctor, secret

    def csrf(self, client, path="/login"):
        """The session's CSRF token, from the meta tag every page carries."""
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def sign_in_patient(self, client, username="alice", password=PATIENT_PW, code="", email=None):
        token = self.csrf(client)
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

    def sign_in_doctor(
        self, client, code, dr_id="D100", name="Grace Tan", ic="S1234567A", pw=DOCTOR_PW
    ):
        token = self.csrf(client, "/login?tab=doctors")
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


@pytest.fixture
def auth():
    """Account and sign-in helpers: ``auth.make_patient(app)``, ``auth.sign_in_patient(client)``."""
    return AuthActions()


# SMARTCAB_TEST_DATABASE=postgresql runs every test that takes its database from the
# fixtures below on a fresh PostgreSQL database instead of SQLite (make test does so for
# the tests in TESTS_POSTGRES).
ON_POSTGRES = os.environ.get("SMARTCAB_TEST_DATABASE", "") == "postgresql"


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's) for the session, with the product's roles."""
    from tests.support.postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def database_url(request):
    """DATABASE_URL for a test: empty (SQLite in the data folder) or a fresh PostgreSQL one."""
    if not ON_POSTGRES:
        return ""
    server = request.getfixturevalue("postgres")
    return server.url(server.new_database())


@pytest.fixture
def app(tmp_path, database_url):
    """The dashboard's Flask app on a fresh database; live updates off, no InfluxDB."""
    from services.web import create_app, stop_background
    from services.web.settings import Settings
    from tests.support.net import free_port

    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        # Nothing listens here: pages must say history is unavailable, not crash.
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
        "WEB_LIVE": "0",
        "DATABASE_URL": database_url,
    }
    application = create_app({"TESTING": True}, settings=Settings.from_env(env))
    yield application
    stop_background(application)


@pytest.fixture
def client(app):
    return app.test_client()
