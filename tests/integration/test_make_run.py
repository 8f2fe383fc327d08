"""``make run`` (``python -m services.local``) end to end in a clean folder, stopped cleanly."""

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.influxdb import InfluxDB
from tests.support.net import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def influx_port() -> int:
    """A free port whose port + 2 (influxd's RPC address) is free as well."""
    while True:
        port = free_port()
        if port < 65000 and _free(port + 2):
            return port


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def descendants(pid: int) -> set[int]:
    """Every process whose parent chain leads to ``pid`` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class MakeRun:
    """One ``python -m services.local`` with its output collected."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.log = folder / "make-run.out"
        self.out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.local"],
            cwd=ROOT,
            env=env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(60)
        finally:
            self.out.close()


def listening_on(port: int) -> set[str]:
    """The local addresses with a socket listening on ``port`` (from /proc/net/tcp*)."""
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(words)))
    return found


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode(errors="replace")
    except OSError:
        return 0, ""


@pytest.mark.slow
def test_make_run_starts_everything_with_demo_accounts_and_stops_cleanly_twice(tmp_path):
    data = tmp_path / "data"
    influx = influx_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "GATEWAY_", "WEB_"))},
        "SMARTCAB_DATA_DIR": str(data),
        "MQTT_PORT": str(free_port()),
        "GATEWAY_PORT": str(free_port()),
        "WEB_PORT": str(free_port()),
        "INFLUX_URL": f"http://127.0.0.1:{influx}",
        # a reading from each watch soon after it connects, not every 30 s
        "SCHEDULER_BPM_INTERVAL": "2",
    }
    web = f"http://127.0.0.1:{env['WEB_PORT']}/login"
    database = InfluxDB(tmp_path)  # only its query helpers: make run starts influxd itself
    database.port = influx

    run = MakeRun(tmp_path, env)
    try:
        wait_until(lambda: "Press Ctrl-C" in run.text(), timeout=90, what=f"start:\n{run.text()}")
        out = run.text()
        assert re.search(r"dashboard\s+http://localhost:\d+", out)
        doctor_totp = re.search(r"TOTP secret ([A-Z2-7]{16,})", out)
        assert doctor_totp, out
        assert re.search(r"patient .*user name demo, password \S+", out)
        assert re.search(r"doctor .*Dr_ID DR-DEMO, .* password \S+", out)
        wait_until(lambda: get(web)[0] == 200, timeout=60, what="the dashboard's sign-in page")
        assert "Health Plus" in get(web)[1]
        # the dashboard is for this machine only; the gateway for boards on the LAN's Wi-Fi,
        # and the banner says both and how to change them
        assert listening_on(int(env["WEB_PORT"])) == {"127.0.0.1"}
        assert listening_on(int(env["GATEWAY_PORT"])) == {"0.0.0.0"}
        assert re.search(r"dashboard .*this machine only; WEB_HOST=0\.0\.0\.0 make run", out)
        assert re.search(r"device gateway .*open to the LAN.*GATEWAY_HOST=127\.0\.0\.1", out)

        def readings() -> list[dict]:
            try:
                return database.rows(
                    'SELECT count("value") FROM "vitals" GROUP BY "device", "patient"'
                )
            except OSError:
                return []

        rows = wait_until(
            lambda: [r for r in readings() if r.get("patient") == "demo"],
            timeout=90,
            interval=1,
            what="readings of the demo patient's simulated watches in InfluxDB",
        )
        # one watch on the demo patient, and her blood pressure typed in
        assert {r["device"] for r in rows} == {"wch", "manual-demo"}
        # the first page load already shows a month: the demo's history went in first
        month_ago = 'SELECT count("value") FROM "vitals" WHERE time < now() - 29d'
        assert database.count(month_ago) > 0
        # everything before a fixed moment an hour ago is the demo's history, not live
        older = (
            f'SELECT count("value") FROM "vitals" WHERE time < {int(time.time() - 3600) * 1000}ms'
        )
        history = database.count(older)
        children = descendants(run.proc.pid)
        assert len(children) >= 9  # broker, database, six services, simulator
    finally:
        code = run.stop(signal.SIGINT)
    assert code == 0, run.text()
    assert "stopped" in run.text()
    left = [pid for pid in children if alive(pid)]
    assert left == []

    # the second run keeps the data and the accounts: same logins, nothing created twice
    first_logins = (data / "demo-logins.txt").read_text()
    run = MakeRun(tmp_path, env)
    try:
        wait_until(lambda: run.text().count("Press Ctrl-C") == 2, timeout=90, what="restart")
        assert run.text().count(first_logins) == 2
        children = descendants(run.proc.pid)
        users = subprocess.run(
            [sys.executable, "-m", "services.web", "users", "list"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert sorted(line.split()[1] for line in users) == ["DR-DEMO", "admin", "demo"]
        assert database.count('SELECT count("value") FROM "vitals"') > 0  # kept from run one
        # ... and the demo's history is not added twice
        assert database.count(older) == history
    finally:
        code = run.stop(signal.SIGTERM)
    assert code == 0
    assert [pid for pid in children if alive(pid)] == []
