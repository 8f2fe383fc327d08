"""``python -m services.web contacts``: add, list and remove as a subprocess, with refusals."""

import os
import subprocess
import sys

import pytest

from services.web import db as schema
from tests.support import browser
from tests.support.net import free_port
from tests.support.services import ROOT

PW = "correct horse battery 7"


@pytest.fixture
def cli_env(tmp_path, database_url):
    env = {"SMARTCAB_DATA_DIR": str(tmp_path / "data"), "MQTT_PORT": str(free_port())}
    env["DATABASE_URL"] = database_url
    browser.cli(
        env, "users", "add-patient", "--email", "ann@example.org", "--username", "ann", password=PW
    )
    return env


def _refused(env, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "services.web", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    return done.stderr


def test_contacts_are_added_listed_and_removed(cli_env, app_database):
    out = browser.cli(
        cli_env,
        "contacts",
        "add",
        "--patient",
        "Ann",
        "--name",
        "Carol",
        "--url",
        "ntfys://ann-family-alerts",
        "--levels",
        "critical",
    )
    assert "added to ann's circle" in out
    browser.cli(
        cli_env, "contacts", "add", "--patient", "ann", "--name", "Dan", "--url", "dan@example.org"
    )
    # the patient's own phone: dose reminders with the medicine's name, no alerts
    browser.cli(
        cli_env,
        "contacts",
        "add",
        "--patient",
        "ann",
        "--name",
        "Phone",
        "--url",
        "ntfys://ann",
        "--levels",
        "",
        "--reminders",
        "named",
    )
    listing = browser.cli(cli_env, "contacts", "list", "--patient", "ann")
    assert "dose reminders (named)" in listing.splitlines()[-1]
    assert "Carol" in listing and "ntfys://ann-…" in listing and "critical" in listing
    assert "d…@example.org" in listing and "ann-family-alerts" not in listing
    contact_id = listing.split()[0]
    assert "removed" in browser.cli(
        cli_env, "contacts", "remove", "--patient", "ann", "--id", contact_id
    )
    assert "Carol" not in browser.cli(cli_env, "contacts", "list", "--patient", "ann")
    conn = schema.connect(app_database)
    try:
        actions = [r[0] for r in conn.execute("SELECT action FROM admin_log ORDER BY id")]
    finally:
        conn.close()
    assert actions.count("contact.add") == 3 and actions[-1] == "contact.remove"


def test_contacts_refuse_bad_input(cli_env):
    add = ("contacts", "add", "--name", "Carol")
    assert "no patient 'zed'" in _refused(cli_env, *add, "--patient", "zed", "--url", "a@b.org")
    assert "Levels are warning, critical" in _refused(
        cli_env, *add, "--patient", "ann", "--url", "a@b.org", "--levels", "warning,loud"
    )
    assert "notification URL" in _refused(cli_env, *add, "--patient", "ann", "--url", "nope")
    assert "scheme://" in _refused(cli_env, *add, "--patient", "ann", "--url", "://x y")
    assert "no contact 99" in _refused(
        cli_env, "contacts", "remove", "--patient", "ann", "--id", "99"
    )
    assert "no patient" in _refused(cli_env, "contacts", "list", "--patient", "zed")
