"""The dashboard as a real process, its admin CLI, and headless Debian Chromium via Playwright."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .net import free_port
from .services import ROOT, ServiceProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


def web(workdir: Path, env: dict[str, str]) -> ServiceProcess:
    """``python -m services.web`` on a free loopback port (not started yet)."""
    port = free_port()
    settings = {
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "SMARTCAB_DATA_DIR": str(workdir / "web-data"),
        **env,
    }
    return ServiceProcess("web", workdir, settings, port=port)


def cli(env: dict[str, str], *args: str, password: str | None = None) -> str:
    """Run ``python -m services.web <args>``; return its output, fail loudly on an error."""
    full_env = {**os.environ, **env}
    command = [sys.executable, "-m", "services.web", *args]
    if password is not None:
        command.append("--password-stdin")
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=full_env,
        input=(password + "\n") if password is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium; never downloads a browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


PATIENT_PW = "correct horse battery 7"
DOCTOR_PW = "stethoscope-orbit-42"


def add_people(data_env: dict[str, str]) -> str:
    """Patient alice and doctor D100 through the admin CLI; returns the add-doctor output."""
    cli(
        data_env,
        *("users", "add-patient", "--email", "alice@example.org", "--username", "alice"),
        password=PATIENT_PW,
    )
    return cli(
        data_env,
        *("users", "add-doctor", "--id", "D100", "--name", "Grace Tan", "--ic", "S1234567A"),
        password=DOCTOR_PW,
    )


def totp_secret(cli_output: str) -> str:
    """The TOTP secret the admin CLI printed for a new doctor or admin."""
    return re.search(r"TOTP secret: (\w+)", cli_output)[1]


def sign_in_doctor(page, base: str, secret: str):
    """Dr. Grace Tan (``add_people``) signs in on ``page`` with a real TOTP code."""
    import pyotp
    from playwright.sync_api import expect

    page.goto(f"{base}/login?tab=doctors")
    page.fill("input[name=dr_id]", "D100")
    page.fill("input[name=name]", "Grace Tan")
    page.fill("input[name=ic]", "S1234567A")
    page.fill("input[name=password]", DOCTOR_PW)
    page.fill("input[name=totp]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/doctor")
    return page
