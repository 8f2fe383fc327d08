"""The demo's accounts, made on the first run with the web's documented admin CLI."""

import secrets
import subprocess
import sys
from pathlib import Path

from . import ADMIN, DEVICES, DOCTOR, PATIENT

ROOT = Path(__file__).resolve().parents[2]
LOGINS_FILE = "demo-logins.txt"


class DemoError(Exception):
    """The web's admin CLI refused a demo step."""


def web_cli(env: dict[str, str], *args: str, password: str | None = None) -> str:
    """Run ``python -m services.web ARGS`` (the documented admin CLI) and return its output."""
    argv = [sys.executable, "-m", "services.web", *args]
    if password is not None:
        argv.append("--password-stdin")
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=env,
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise DemoError(f"{' '.join(args[:2])}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _totp_secret(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("TOTP secret: "):
            return line.removeprefix("TOTP secret: ").strip()
    raise DemoError("the CLI printed no TOTP secret")


def demo_accounts(env: dict[str, str], data: Path, web_url: str) -> str:
    """Create the demo accounts on the first run and return how to sign in with them.

    The logins are kept in ``demo-logins.txt`` (owner-only) so later runs print them
    again instead of creating anything.
    """
    saved = data / LOGINS_FILE
    if saved.exists():
        return saved.read_text()
    existing = {line.split()[1] for line in web_cli(env, "users", "list").splitlines() if line}
    if {PATIENT[0], DOCTOR[0], ADMIN[0]} & existing:
        return (
            "  demo accounts exist but their logins were not saved; set new passwords with\n"
            "  .venv/bin/python -m services.web users reset-password LOGIN\n"
        )
    patient_pw, doctor_pw, admin_pw = (secrets.token_urlsafe(12) for _ in range(3))
    username, email = PATIENT
    dr_id, dr_name, dr_ic = DOCTOR
    admin, admin_email = ADMIN
    web_cli(
        env, "users", "add-patient", "--email", email, "--username", username, password=patient_pw
    )
    doctor = ("add-doctor", "--id", dr_id, "--name", dr_name, "--ic", dr_ic)
    doctor_totp = _totp_secret(web_cli(env, "users", *doctor, password=doctor_pw))
    admin_args = ("add-admin", "--email", admin_email, "--username", admin)
    admin_totp = _totp_secret(web_cli(env, "users", *admin_args, password=admin_pw))
    for device in DEVICES:
        web_cli(env, "devices", "assign", device, "--patient", username)
    web_cli(env, "shares", "grant", "--patient", username, "--doctor", dr_id)
    text = (
        f"  sign in at {web_url}/login\n"
        f"  patient  Users tab:   email {email}, user name {username}, password {patient_pw}\n"
        f"           owns {', '.join(DEVICES)} and shares with {dr_id}\n"
        f"  doctor   Doctors tab: Dr_ID {dr_id}, Dr_name {dr_name}, Dr_IC {dr_ic},"
        f" password {doctor_pw}\n"
        f"           TOTP secret {doctor_totp} (add it to an authenticator app)\n"
        f"  admin    Users tab:   email {admin_email}, user name {admin}, password {admin_pw}\n"
        f"           TOTP secret {admin_totp}\n"
    )
    saved.touch(mode=0o600)
    saved.write_text(text)
    return text
