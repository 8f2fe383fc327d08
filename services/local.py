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
    dr_id, dr_name, dr_ic = DEMO_DOCTOR
    admin, admin_email = DEMO_ADMIN
    _web_cli(
        env, "users", "add-patient", "--email", email, "--username", username, password=patient_pw
    )
    doctor = ("add-doctor", "--id", dr_id, "--name", dr_name, "--ic", dr_ic)
    doctor_totp = _totp_secret(_web_cli(env, "users", *doctor, password=doctor_pw))
    admin_args = ("add-admin", "--email", admin_email, "--username", admin)
    admin_totp = _totp_secret(_web_cli(env, "users", *admin_args, password=admin_pw))
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


def _environment() -> tuple[dict[str, str], Path]:
    """The services' environment, with the local defaults filled in, and the data folder."""
    env = dict(os.environ)
    data = Path(env.setdefault("SMARTCAB_DATA_DIR", str(ROOT / "data"))).resolve()
    env["SMARTCAB_DATA_DIR"] = str(data)
    data.mkdir(parents=True, exist_ok=True)
    env.setdefault("MQTT_PORT", "1883")
    env.setdefault("MQTT_HOST", "127.0.0.1")
    env.setdefault("GATEWAY_PORT", "5050")
    if not env.get("GATEWAY_DEVICES"):
        env.setdefault("GATEWAY_TRUSTED_LAN", "1")  # the simulated devices have no tokens
    env.setdefault("WEB_PORT", "5000")
    # the dashboard only for this machine unless asked; the gateway on every interface,
    # since real boards reach it over Wi-Fi (the banner says both)
    env.setdefault("WEB_HOST", "127.0.0.1")
    env.setdefault("GATEWAY_HOST", "0.0.0.0")
    env.setdefault("INFLUX_URL", "http://127.0.0.1:8086")
    env["PYTHONUNBUFFERED"] = "1"
    return env, data


def _influx_port(env: dict[str, str]) -> int:
    return urlsplit(env["INFLUX_URL"]).port or 8086


def _ready_to_start(env: dict[str, str]) -> bool:
    """The system packages are there and every port is free; otherwise say what to do."""
    missing = _missing_packages()
    if missing:
        how = "make run installs them as root, or" if os.geteuid() == 0 else "install them with:"
        print(f"missing system packages: {' '.join(missing)}", file=sys.stderr)
        print(f"{how} sudo apt-get install -y {' '.join(missing)}", file=sys.stderr)
        return False
    influx_port = _influx_port(env)
    ports = [
        (int(env["MQTT_PORT"]), "MQTT_PORT"),
        (int(env["GATEWAY_PORT"]), "GATEWAY_PORT"),
        (int(env["WEB_PORT"]), "WEB_PORT"),
        (influx_port, "INFLUX_URL"),
        (influx_port + 2, "INFLUX_URL's port + 2"),
    ]
    for port, what in ports:
        if not _port_free(port):
            print(f"port {port} ({what}) is in use; set {what} to a free port", file=sys.stderr)
            return False
    return True


class Launcher:
    """The children started so far, and whether Ctrl-C or SIGTERM asked to stop."""

    def __init__(self, env: dict[str, str], data: Path) -> None:
        self.env = env
        self.data = data
        self.children: list[Child] = []
        self.stopping = False
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def stop(self, *_: object) -> None:
        self.stopping = True

    def start(self, name: str, argv: list[str]) -> None:
        log = (self.data / f"{name}.log").open("ab")
        # Own session: Ctrl-C reaches only this launcher, which stops the
        # children in order (services before InfluxDB and the broker).
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()  # the child holds its own copy
        self.children.append(Child(name, proc))

    def start_stores(self) -> bool:
        """The broker and InfluxDB, each answering on its port; False if one did not."""
        data, mqtt_port, influx_port = self.data, int(self.env["MQTT_PORT"]), _influx_port(self.env)
        self.start(
            "mosquitto", [_program("mosquitto"), "-c", str(_mosquitto_conf(data, mqtt_port))]
        )
        if not _wait_port(mqtt_port, 10):
            print(f"mosquitto did not start; see {data / 'mosquitto.log'}", file=sys.stderr)
            return False
        conf = _influx_conf(data, influx_port)
        self.start("influxdb", [_program("influxd"), "run", "-config", str(conf)])
        if not _wait_port(influx_port, 30):
            print(f"influxd did not start; see {data / 'influxdb.log'}", file=sys.stderr)
            return False
        return True

    def start_services(self) -> bool:
        """Every service, then the simulated devices; False if a stop came first."""
        for service in SERVICES:
            if self.stopping:
                return False
            self.start(service, [sys.executable, "-m", f"services.{service}"])
        gateway = f"127.0.0.1:{self.env['GATEWAY_PORT']}"
        self.start(
            "simulator",
            [
                *(sys.executable, "-m", "firmware.sim", "--gateway", gateway),
                *("--watches", "2", "--cameras", "1", "--cabinets", "1"),
            ],
        )
        return True

    def watch(self) -> int:
        """Until a stop is asked for or a child exits; the exit code of ``make run``."""
        while not self.stopping:
            for child in self.children:
                if child.proc.poll() is not None:
                    print(
                        f"{child.name} exited with {child.proc.returncode};"
                        f" see {self.data}/{child.name}.log"
                    )
                    return 1
            time.sleep(0.3)
        return 0


def _banner(env: dict[str, str], data: Path, web_url: str, logins: str) -> None:
    database = env.get("INFLUX_DATABASE", "vitals")
    mqtt_port, gateway_port = env["MQTT_PORT"], env["GATEWAY_PORT"]
    print(f"Health Plus is running; logs in {data}")
    web_host, gateway_host = env["WEB_HOST"], env["GATEWAY_HOST"]
    print(f"  dashboard      {web_url}  ({_reach(web_host, 'WEB_HOST')})")
    print(f"  MQTT broker    mqtt://127.0.0.1:{mqtt_port}  (try: mosquitto_sub -t 'smartcab/#' -v)")
    gateway_reach = _reach(gateway_host, "GATEWAY_HOST")
    print(f"  device gateway tcp://{gateway_host}:{gateway_port}  ({gateway_reach})")
    print(f"                 simulated: {', '.join(DEMO_DEVICES)}; boards on Wi-Fi need the LAN")
    print(f"  InfluxDB       {env['INFLUX_URL']}  (database {database})")
    if logins:
        print(f"Demo accounts (kept in {data / 'demo-logins.txt'}):")
        print(logins, end="")
    print("Press Ctrl-C to stop.", flush=True)


def main() -> int:
    env, data = _environment()
    web_url = f"http://localhost:{int(env['WEB_PORT'])}"
    if not _ready_to_start(env):
        return 1
    launcher = Launcher(env, data)
    if not launcher.start_stores():
        return _shutdown(launcher.children, 1)
    # Before the services start, so the recorder tags the very first readings with the patient.
    logins = ""
    if env.get("SMARTCAB_DEMO", "1") not in ("0", "false", "no", "off"):
        try:
            logins = demo_accounts(env, data, web_url)
        except (DemoError, subprocess.TimeoutExpired) as exc:
            print(f"demo accounts not created: {exc}", file=sys.stderr)
    if not launcher.start_services():
        return _shutdown(launcher.children, 0)
    _banner(env, data, web_url, logins)
    return _shutdown(launcher.children, launcher.watch())


def _reach(host: str, setting: str) -> str:
    """Who can connect, and how to change it, for the banner."""
    if host in ("127.0.0.1", "localhost", "::1"):
        return f"this machine only; {setting}=0.0.0.0 make run opens it to the LAN"
    return (
        f"open to the LAN: anyone on it can connect; {setting}=127.0.0.1 keeps it on this machine"
    )


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
