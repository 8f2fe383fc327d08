"""``make run``: the whole product on this machine, without Docker.

Starts Mosquitto and InfluxDB with the project's configuration and data under
``SMARTCAB_DATA_DIR``, then every service and a simulated fleet. On the first run it
creates demo accounts (a patient who owns the simulated devices, a doctor she shares
with, an admin) and prints their logins. Ctrl-C (or SIGTERM) stops everything; a
second run keeps the data and the accounts.
"""

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]

SERVICES = ("gateway", "recorder", "scheduler", "web", "reporter", "notifier", "pillbox")


# the simulated fleet's ids (firmware/sim: 2 watches, a camera, a cabinet)
DEMO_DEVICES = ("wch-01", "wch-02", "img", "cab")
DEMO_PATIENT = ("demo", "demo@example.com")
DEMO_DOCTOR = ("DR-DEMO", "Dr Demo", "IC-DEMO")
DEMO_ADMIN = ("admin", "admin@example.com")
DEMO_MEDICATIONS = (
    ("Aspirin 75 mg", "Aspirin", "08:00"),
    ("Vitamin C 500 mg", "Vitamin C", "08:00,20:00"),
)


class DemoError(Exception):
    """The web's admin CLI refused a demo step."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _mosquitto_conf(data: Path, port: int) -> Path:
    template = (ROOT / "mosquitto" / "local.conf").read_text()
    conf = data / "mosquitto" / "mosquitto.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        template.replace("@PORT@", str(port))
        .replace("@DATA@", str(conf.parent))
        .replace("@USER@", getpass.getuser())
    )
    return conf


def _influx_conf(data: Path, http_port: int) -> Path:
    template = (ROOT / "influxdb" / "local.conf").read_text()
    folder = data / "influxdb"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "influxdb.conf"
    conf.write_text(
        template.replace("@HTTP@", str(http_port))
        .replace("@RPC@", str(http_port + 2))
        .replace("@DATA@", str(folder))
    )
    return conf


def _web_cli(env: dict[str, str], *args: str, password: str | None = None) -> str:
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
    saved = data / "demo-logins.txt"
    if saved.exists():
        return saved.read_text()
    existing = {line.split()[1] for line in _web_cli(env, "users", "list").splitlines() if line}
    if {DEMO_PATIENT[0], DEMO_DOCTOR[0], DEMO_ADMIN[0]} & existing:
        return (
            "  demo accounts exist but their logins were not saved; set new passwords with\n"
            "  .venv/bin/python -m services.web users reset-password LOGIN\n"
        )
    patient_pw, doctor_pw, admin_pw = (secrets.token_urlsafe(12) for _ in range(3))
    username, email = DEMO_PATIENT
    _web_cli(
        env, "users", "add-patient", "--email", email, "--username", username, password=patient_pw
    )
    dr_id, dr_name, dr_ic = DEMO_DOCTOR
    doctor_totp = _totp_secret(
        _web_cli(
            env,
            "users",
            "add-doctor",
            "--id",
            dr_id,
            "--name",
            dr_name,
            "--ic",
            dr_ic,
            password=doctor_pw,
        )
    )
    admin, admin_email = DEMO_ADMIN
    admin_totp = _totp_secret(
        _web_cli(
            env,
            "users",
            "add-admin",
            "--email",
            admin_email,
            "--username",
            admin,
            password=admin_pw,
        )
    )
    for device in DEMO_DEVICES:
        _web_cli(env, "devices", "assign", device, "--patient", username)
    _web_cli(env, "shares", "grant", "--patient", username, "--doctor", dr_id)
    for name, item, times in DEMO_MEDICATIONS:  # items the simulated cabinet holds
        _web_cli(
            env,
            "meds",
            "add",
            "--patient",
            username,
            "--name",
            name,
            "--item",
            item,
            "--at",
            times,
            "--stock",
            "28",
        )
    text = (
        f"  sign in at {web_url}/login\n"
        f"  patient  Users tab:   email {email}, user name {username}, password {patient_pw}\n"
        f"           owns {', '.join(DEMO_DEVICES)} and shares with {dr_id}\n"
        f"  doctor   Doctors tab: Dr_ID {dr_id}, Dr_name {dr_name}, Dr_IC {dr_ic},"
        f" password {doctor_pw}\n"
        f"           TOTP secret {doctor_totp} (add it to an authenticator app)\n"
        f"  admin    Users tab:   email {admin_email}, user name {admin}, password {admin_pw}\n"
        f"           TOTP secret {admin_totp}\n"
    )
    saved.touch(mode=0o600)
    saved.write_text(text)
    return text


def _missing_packages() -> list[str]:
    """Debian packages whose programs ``make run`` needs and cannot find."""
    needed = {"mosquitto": "mosquitto", "influxd": "influxdb"}
    return [
        package
        for program, package in needed.items()
        if not (shutil.which(program) or Path(f"/usr/sbin/{program}").exists())
    ]


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def main() -> int:
    env = dict(os.environ)
    data = Path(env.setdefault("SMARTCAB_DATA_DIR", str(ROOT / "data"))).resolve()
    env["SMARTCAB_DATA_DIR"] = str(data)
    data.mkdir(parents=True, exist_ok=True)
    mqtt_port = int(env.setdefault("MQTT_PORT", "1883"))
    env.setdefault("MQTT_HOST", "127.0.0.1")
    gateway_port = int(env.setdefault("GATEWAY_PORT", "5050"))
    web_port = int(env.setdefault("WEB_PORT", "5000"))
    influx_port = urlsplit(env.setdefault("INFLUX_URL", "http://127.0.0.1:8086")).port or 8086
    env["PYTHONUNBUFFERED"] = "1"
    web_url = f"http://localhost:{web_port}"

    missing = _missing_packages()
    if missing:
        how = "make run installs them as root, or" if os.geteuid() == 0 else "install them with:"
        print(f"missing system packages: {' '.join(missing)}", file=sys.stderr)
        print(f"{how} sudo apt-get install -y {' '.join(missing)}", file=sys.stderr)
        return 1
    ports = [
        (mqtt_port, "MQTT_PORT"),
        (gateway_port, "GATEWAY_PORT"),
        (web_port, "WEB_PORT"),
        (influx_port, "INFLUX_URL"),
        (influx_port + 2, "INFLUX_URL's port + 2"),
    ]
    for port, what in ports:
        if not _port_free(port):
            print(f"port {port} ({what}) is in use; set {what} to a free port", file=sys.stderr)
            return 1

    children: list[Child] = []

    def start(name: str, argv: list[str]) -> None:
        log = (data / f"{name}.log").open("ab")
        # Own session: Ctrl-C reaches only this launcher, which stops the
        # children in order (services before InfluxDB and the broker).
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()  # the child holds its own copy
        children.append(Child(name, proc))

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    start("mosquitto", [_program("mosquitto"), "-c", str(_mosquitto_conf(data, mqtt_port))])
    if not _wait_port(mqtt_port, 10):
        print(f"mosquitto did not start; see {data / 'mosquitto.log'}", file=sys.stderr)
        return _shutdown(children, 1)
    start("influxdb", [_program("influxd"), "run", "-config", str(_influx_conf(data, influx_port))])
    if not _wait_port(influx_port, 30):
        print(f"influxd did not start; see {data / 'influxdb.log'}", file=sys.stderr)
        return _shutdown(children, 1)

    # Before the services start, so the recorder tags the very first readings with the patient.
    logins = ""
    if env.get("SMARTCAB_DEMO", "1") not in ("0", "false", "no", "off"):
        try:
            logins = demo_accounts(env, data, web_url)
        except (DemoError, subprocess.TimeoutExpired) as exc:
            print(f"demo accounts not created: {exc}", file=sys.stderr)

    for service in SERVICES:
        if stopping:
            return _shutdown(children, 0)
        start(service, [sys.executable, "-m", f"services.{service}"])
    start(
        "simulator",
        [
            *(sys.executable, "-m", "firmware.sim", "--gateway", f"127.0.0.1:{gateway_port}"),
            *("--watches", "2", "--cameras", "1", "--cabinets", "1"),
        ],
    )

    database = env.get("INFLUX_DATABASE", "vitals")
    print(f"Health Plus is running; logs in {data}")
    print(f"  dashboard      {web_url}")
    print(f"  MQTT broker    mqtt://127.0.0.1:{mqtt_port}  (try: mosquitto_sub -t 'smartcab/#' -v)")
    print(f"  device gateway tcp://0.0.0.0:{gateway_port}  (simulated: {', '.join(DEMO_DEVICES)})")
    print(f"  InfluxDB       {env['INFLUX_URL']}  (database {database})")
    if logins:
        print(f"Demo accounts (kept in {data / 'demo-logins.txt'}):")
        print(logins, end="")
    print("Press Ctrl-C to stop.", flush=True)

    while not stopping:
        for child in children:
            if child.proc.poll() is not None:
                print(
                    f"{child.name} exited with {child.proc.returncode}; see {data}/{child.name}.log"
                )
                return _shutdown(children, 1)
        time.sleep(0.3)
    return _shutdown(children, 0)


def _shutdown(children: list[Child], code: int) -> int:
    """Stop services first and the broker last, so services can say goodbye."""
    for child in reversed(children):
        if child.proc.poll() is None:
            child.proc.send_signal(signal.SIGTERM)
        try:
            child.proc.wait(15)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    print("stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
