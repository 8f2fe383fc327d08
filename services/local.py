"""``make run``: the whole product on this machine, without Docker.

Starts Mosquitto (and InfluxDB once the recorder exists) with the project's
configuration and data under ``SMARTCAB_DATA_DIR``, then every service that has
been built and a simulated fleet. Parts not built yet are named, not faked.
Ctrl-C (or SIGTERM) stops everything; a second run keeps the data.
"""

import getpass
import importlib.util
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

ROOT = Path(__file__).resolve().parents[1]

# service module -> the issue that builds it, for the "not built yet" message
SERVICES = {
    "gateway": "issue 2",
    "recorder": "issue 3",
    "scheduler": "issue 3",
    "web": "issue 5",
    "reporter": "issue 7",
}


@dataclass
class Child:
    name: str
    proc: subprocess.Popen


def _built(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


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


def main() -> int:
    env = dict(os.environ)
    data = Path(env.setdefault("SMARTCAB_DATA_DIR", str(ROOT / "data"))).resolve()
    data.mkdir(parents=True, exist_ok=True)
    mqtt_port = int(env.setdefault("MQTT_PORT", "1883"))
    env.setdefault("MQTT_HOST", "127.0.0.1")
    gateway_port = int(env.setdefault("GATEWAY_PORT", "5050"))
    influx_port = urlsplit(env.setdefault("INFLUX_URL", "http://127.0.0.1:8086")).port or 8086
    with_influx = _built("services.recorder")
    env["PYTHONUNBUFFERED"] = "1"

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        print("mosquitto is missing: sudo apt-get install -y mosquitto", file=sys.stderr)
        return 1
    influxd = shutil.which("influxd") or "/usr/sbin/influxd"
    if with_influx and not Path(influxd).exists():
        print("influxd is missing: sudo apt-get install -y influxdb", file=sys.stderr)
        return 1
    ports = [(mqtt_port, "MQTT_PORT"), (gateway_port, "GATEWAY_PORT")]
    if with_influx:
        ports += [(influx_port, "INFLUX_URL"), (influx_port + 2, "INFLUX_URL's port + 2")]
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
        children.append(Child(name, proc))

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    start("mosquitto", [mosquitto, "-c", str(_mosquitto_conf(data, mqtt_port))])
    if not _wait_port(mqtt_port, 10):
        print(f"mosquitto did not start; see {data / 'mosquitto.log'}", file=sys.stderr)
        return _shutdown(children, 1)

    if with_influx:
        start("influxdb", [influxd, "run", "-config", str(_influx_conf(data, influx_port))])
        if not _wait_port(influx_port, 30):
            print(f"influxd did not start; see {data / 'influxdb.log'}", file=sys.stderr)
            return _shutdown(children, 1)

    missing = []
    for service, issue in SERVICES.items():
        if _built(f"services.{service}"):
            start(service, [sys.executable, "-m", f"services.{service}"])
        else:
            missing.append(f"{service} ({issue})")
    if _built("firmware.sim"):
        start(
            "simulator",
            [
                *(sys.executable, "-m", "firmware.sim", "--gateway", f"127.0.0.1:{gateway_port}"),
                *("--watches", "2", "--cameras", "1", "--cabinets", "1"),
            ],
        )
    else:
        missing.append("device simulator (issue 4)")

    print(f"Health Plus is running; logs in {data}")
    print(f"  MQTT broker    mqtt://127.0.0.1:{mqtt_port}  (try: mosquitto_sub -t 'smartcab/#' -v)")
    print(f"  device gateway tcp://0.0.0.0:{gateway_port}")
    if with_influx:
        database = env.get("INFLUX_DATABASE", "vitals")
        print(f"  InfluxDB       {env['INFLUX_URL']}  (database {database})")
    if _built("services.web"):
        print(f"  dashboard      http://localhost:{env.get('WEB_PORT', '5000')}")
        cli = ".venv/bin/python -m services.web users"
        print(f"  accounts:      {cli} add-patient --email E --username U")
        print("                 (demo accounts made on first run come with issue 8)")
    if missing:
        print("  not built yet: " + ", ".join(missing))
    print("Press Ctrl-C to stop.")

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
    print("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
