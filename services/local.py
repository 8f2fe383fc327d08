"""``make run``: the whole product on this machine, without Docker.

Starts Mosquitto and InfluxDB with the project's configuration and data under
``SMARTCAB_DATA_DIR``, then every service and a simulated fleet. On the first run it
creates demo accounts (a patient who owns the simulated devices, a doctor she shares
with, an admin), prints their logins and gives the patient a month of history
(``services/demo``). Ctrl-C (or SIGTERM) stops everything; a second run keeps the data
and the accounts and adds nothing to the demo.
"""

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from services.common.database import DatabaseError
from services.common.errors import SmartcabError
from services.common.medication.settings import MedicationSettings
from services.demo import DEVICES, seed
from services.demo.accounts import LOGINS_FILE, DemoError, demo_accounts
from services.demo.fleet import simulator_args

ROOT = Path(__file__).resolve().parents[1]

SERVICES = ("gateway", "recorder", "scheduler", "web", "reporter", "notifier", "pillbox")


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

    def start_services(self, demo: bool) -> bool:
        """Every service, then the simulated devices; False if a stop came first.

        With ``demo``, the demo's month of history goes in once the recorder runs and
        before the dose tracker starts (the week of doses is already decided), and the
        camera's first photo once the devices are online.
        """
        later = ("pillbox",) if demo else ()
        for service in [s for s in SERVICES if s not in later]:
            if self.stopping:
                return False
            self.start(service, [sys.executable, "-m", f"services.{service}"])
        if demo:
            _seed("a month of history", seed.seed_history, self.env)
        for service in later:
            self.start(service, [sys.executable, "-m", f"services.{service}"])
        if self.stopping:
            return False
        gateway = f"127.0.0.1:{self.env['GATEWAY_PORT']}"
        timezone = MedicationSettings.from_env(self.env).timezone
        self.start(
            "simulator",
            [sys.executable, "-m", "firmware.sim", "--gateway", gateway, *simulator_args(timezone)],
        )
        if demo:
            _seed("the camera's first photo", seed.seed_snapshot, self.env)
        return not self.stopping

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
    print(f"                 simulated: {', '.join(DEVICES)}; boards on Wi-Fi need the LAN")
    print(f"  InfluxDB       {env['INFLUX_URL']}  (database {database})")
    if logins:
        print(f"Demo accounts (kept in {data / LOGINS_FILE}):")
        print(logins, end="")
    print("Press Ctrl-C to stop.", flush=True)


def main() -> int:
    env, data = _environment()
    web_url = f"http://localhost:{int(env['WEB_PORT'])}"
    if not _ready_to_start(env):
        return 1
    launcher = Launcher(env, data)
    try:
        return _run(launcher, env, data, web_url)
    except BaseException:
        _shutdown(launcher.children, 1)  # no broker or database left behind by a crash
        raise


def _run(launcher: Launcher, env: dict[str, str], data: Path, web_url: str) -> int:
    if not launcher.start_stores():
        return _shutdown(launcher.children, 1)
    # Before the services start, so the recorder tags the very first readings with the patient.
    logins = ""
    demo = env.get("SMARTCAB_DEMO", "1") not in ("0", "false", "no", "off")
    if demo:
        try:
            logins = demo_accounts(env, data, web_url)
        except (DemoError, subprocess.TimeoutExpired) as exc:
            print(f"demo accounts not created: {exc}", file=sys.stderr)
            demo = False
    if demo:
        demo = _seed("the health record", seed.seed_record, env)
    if not launcher.start_services(demo):
        return _shutdown(launcher.children, 0)
    _banner(env, data, web_url, logins)
    return _shutdown(launcher.children, launcher.watch())


def _seed(what: str, step, env: dict[str, str]) -> bool:
    """One step of the demo's seeding; a failure is said and the product runs on without it."""
    print(f"demo: {what}...", flush=True)
    try:
        step(env)
    except (DemoError, SmartcabError, OSError, DatabaseError) as exc:
        print(f"demo: {what} not added: {exc}", file=sys.stderr, flush=True)
        return False
    return True


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
