"""A real Home Assistant core against the real gateway's discovery: what HA really shows.

Run by scripts/check-home-assistant.sh with the Python of a virtualenv that has
``homeassistant`` installed; the gateway runs with the project's own Python (``--project-python``).
It starts Mosquitto on a free port, Home Assistant with only its MQTT integration, the gateway
with ``HA_DISCOVERY=1`` and devices written like the original firmware, then reads HA's
states (REST API) and device registry (websocket API) and fails on the first difference
from what docs/deploy.md promises. Nothing is left running.
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from homeassistant.const import __version__ as HA_VERSION

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.mosquitto import Mosquitto  # noqa: E402
from tests.support.net import free_port, wait_port  # noqa: E402
from tests.support.seed_clients import SeedDevice, SeedWatch  # noqa: E402

DASHBOARD = "https://cabinet.example.org"
CONFIG = """\
homeassistant:
  name: check
  latitude: 0
  longitude: 0
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: GB
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: warning
"""
# what HA logs about MQTT or templates; none of it may appear
WATCHED_LOGGERS = ("[homeassistant.components.mqtt", "[homeassistant.helpers.template")


class Failed(AssertionError):
    """A difference between what Home Assistant shows and what the docs promise."""


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)
    print(f"  ok  {what}")


class HomeAssistant:
    """One Home Assistant core process in a folder of its own, and its HTTP API."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.proc: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "configuration.yaml").write_text(CONFIG.format(port=self.port))

    def start(self) -> None:
        out = (self.folder / "hass.out").open("ab")
        self.proc = subprocess.Popen(
            # without --skip-pip: a release whose core integrations' packages do not come
            # with it (2024.3) installs them into this virtualenv on its first start
            [sys.executable, "-m", "homeassistant", "-c", str(self.folder)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self._wait(lambda: self._get("/api/onboarding", auth=False) is not None, 600, "HA's API")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def config(self) -> dict:
        return self._get("/api/config")

    def onboard(self) -> None:
        """Make the owner account and take a token, as the first browser visit would."""
        client = f"{self.base}/"
        user = {
            "client_id": client,
            "name": "Check",
            "username": "check",
            "password": "check-password-123",
            "language": "en",
        }
        code = self._post("/api/onboarding/users", user, auth=False)["auth_code"]
        form = f"grant_type=authorization_code&code={code}&client_id={client}".encode()
        request = urllib.request.Request(f"{self.base}/auth/token", data=form, method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            self.token = json.load(answer)["access_token"]

    def add_mqtt(self, port: int) -> None:
        """The MQTT integration through its config flow, as a person adds it."""
        flow = self._post("/api/config/config_entries/flow", {"handler": "mqtt"})
        done = self._post(
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"broker": "127.0.0.1", "port": port},
        )
        if done.get("type") != "create_entry":
            raise Failed(f"the MQTT integration was not added: {done}")

    def states(self) -> dict[str, dict]:
        return {s["entity_id"]: s for s in self._get("/api/states")}

    def call(self, domain: str, service: str, entity_id: str) -> None:
        self._post(f"/api/services/{domain}/{service}", {"entity_id": entity_id})

    def image(self, entity_id: str) -> bytes:
        request = urllib.request.Request(
            f"{self.base}/api/image_proxy/{entity_id}", headers=self._headers()
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read()

    def registry(self, kind: str) -> list[dict]:
        """``device`` or ``entity``: HA's registry, through the websocket API."""
        return asyncio.run(self._ws(f"config/{kind}_registry/list"))

    async def _ws(self, command: str) -> list[dict]:
        url = f"{self.base}/api/websocket"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            await ws.receive_json()  # auth_ok
            await ws.send_json({"id": 1, "type": command})
            return (await ws.receive_json())["result"]

    def wait_for(self, what: str, test, timeout: float = 30.0) -> dict[str, dict]:
        """Poll the states until ``test(states)`` holds; fail with ``what`` after ``timeout``."""
        found: dict[str, dict] = {}

        def ready() -> bool:
            nonlocal found
            found = self.states()
            return bool(test(found))

        self._wait(ready, timeout, what)
        return found

    def warnings(self) -> list[str]:
        """HA's MQTT and template warnings and errors, over every start (HA's own log file
        is rotated on each start; its console output is kept here in one file)."""
        out = self.folder / "hass.out"
        lines = out.read_text(errors="replace").splitlines() if out.exists() else []
        return [
            line
            for line in lines
            if ("WARNING" in line or "ERROR" in line)
            and (any(w in line for w in WATCHED_LOGGERS) or "Template variable" in line)
        ]

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise Failed(f"Home Assistant stopped while waiting for {what}")
            time.sleep(0.5)
        raise Failed(f"not within {timeout:g} s: {what}")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def _get(self, path: str, auth: bool = True):
        headers = self._headers() if auth else {}
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.load(answer)
        except OSError:
            return None

    def _post(self, path: str, body: dict, auth: bool = True):
        headers = self._headers() if auth else {"Content-Type": "application/json"}
        request = urllib.request.Request(
            f"{self.base}{path}", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)


def start_gateway(python: str, broker: Mosquitto, folder: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_TRUSTED_LAN": "1",
        "HA_DISCOVERY": "1",
        "WEB_BASE_URL": DASHBOARD,
    }
    out = (folder / "gateway.log").open("ab")
    proc = subprocess.Popen(
        [python, "-m", "services.gateway"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
    )
    wait_port(port)
    return proc, port


# a real 16x12 JPEG (Pillow is not in every Home Assistant release to make one)
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERX"
    "RTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAMABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA"
    "AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk"
    "M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT"
    "lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA"
    "HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh"
    "cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp"
    "anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk"
    "5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwClRRRXUeEf/9k="
)


def named(states: dict[str, dict], name: str) -> dict | None:
    """The state of the entity HA calls ``name`` (device name, then entity name)."""
    for state in states.values():
        if state["attributes"].get("friendly_name") == name:
            return state
    return None


def value(states: dict[str, dict], name: str) -> str | None:
    found = named(states, name)
    return None if found is None else found["state"]


ITEMS = {"Tea (green)": 0, "Tea [green]": 1, "Müsli": 2}


def check_entities(ha: HomeAssistant, watch: SeedWatch, cabinet: SeedDevice) -> None:
    print("entities and their values")
    for reading in (b"72.00,bpm", b"36.60,temp", b"97.00,spo2"):
        watch.sock.send(reading)
        time.sleep(0.1)  # the firmware's readings come apart too
    cabinet.send_sized(json.dumps(ITEMS, ensure_ascii=False).encode())
    wanted = {
        "Watch wch-01 Heart rate": "72.0",
        "Watch wch-01 Body temperature": "36.6",
        "Watch wch-01 Blood oxygen (SpO2)": "97.0",
        "Cabinet cab Tea (green)": "0",
        "Cabinet cab Tea [green]": "1",
        "Cabinet cab Müsli": "2",
        "Health Plus gateway Connection": "on",
    }
    states = ha.wait_for(
        "every reading, item and the gateway shown",
        lambda s: all(value(s, n) == v for n, v in wanted.items()),
    )
    for name, state in wanted.items():
        check(value(states, name) == state, f"{name} = {state}")
    hr = named(states, "Watch wch-01 Heart rate")
    check(hr["entity_id"] == "sensor.watch_wch_01_heart_rate", f"entity id {hr['entity_id']}")
    check(hr["attributes"].get("unit_of_measurement") == "bpm", "heart rate in bpm")
    temp = named(states, "Watch wch-01 Body temperature")
    check(temp["attributes"].get("device_class") == "temperature", "temperature's device class")
    musli = named(states, "Cabinet cab Müsli")
    check(musli["entity_id"] == "sensor.cabinet_cab_musli", f"entity id {musli['entity_id']}")
    teas = {named(states, f"Cabinet cab Tea {t}")["entity_id"] for t in ("(green)", "[green]")}
    check(len(teas) == 2, f"two teas, two entities: {sorted(teas)}")
    for name in ("Watch wch-01 Blood pressure, systolic", "Watch wch-01 Blood pressure, diastolic"):
        check(value(states, name) == "unknown", f"{name}: unknown before its first reading")


def check_commands(ha, watch: SeedWatch, cabinet: SeedDevice, camera: SeedDevice) -> None:
    print("commands from Home Assistant")
    states = ha.states()
    ha.call("button", "press", named(states, "Watch wch-01 Measure now")["entity_id"])
    check(watch.serve_once(80.0, 37.0) == b"bpm", "Measure now sends bpm to the watch")
    ha.wait_for("the new heart rate", lambda s: value(s, "Watch wch-01 Heart rate") == "80.0")
    check(True, "the watch's answer is the new heart rate (80.0)")
    ha.call("light", "turn_off", named(states, "Cabinet cab LED strip")["entity_id"])
    check(cabinet.recv_command() == b"lof", "turning the LED strip off sends lof")
    ha.call("button", "press", named(states, "Camera img Take photo")["entity_id"])
    check(camera.recv_command() == b"img", "Take photo sends img to the camera")
    picture = JPEG
    camera.send_sized(base64.b64encode(picture))
    snapshot = named(states, "Camera img Snapshot")["entity_id"]
    ha.wait_for("the new snapshot", lambda s: s[snapshot]["state"] != "unknown")
    check(ha.image(snapshot) == picture, "the Snapshot image is the camera's JPEG")


def check_registry(ha: HomeAssistant) -> None:
    print("device registry")
    devices = {tuple(d["identifiers"][0]): d for d in ha.registry("device") if d["identifiers"]}
    hub = devices[("mqtt", "smartcab-gateway")]
    check(hub["name"] == "Health Plus gateway", "the gateway is a device of its own")
    for ident, name in (("smartcab_wch-01", "Watch wch-01"), ("smartcab_cab", "Cabinet cab")):
        device = devices[("mqtt", ident)]
        check(device["name"] == name, f"{ident} is named {name!r}")
        check(device["via_device_id"] == hub["id"], f"{name} is shown through the gateway")
        check(device["configuration_url"] == DASHBOARD, f"{name} links to the dashboard")
        check(device["manufacturer"] == "Health Plus", f"{name}: manufacturer")
    watch = devices[("mqtt", "smartcab_wch-01")]
    check(watch["sw_version"] == "1.2.0", "the watch's firmware version (from its hello)")
    check(watch["hw_version"] == "ESP32, MAX30102, MLX90614", "the watch's hardware")
    check(watch["model"] == "Smartwatch (ESP32)", "the watch's model")


def check_item_leaves(ha: HomeAssistant, cabinet: SeedDevice) -> None:
    print("an item leaves the inventory")
    cabinet.send_sized(json.dumps({"Tea (green)": 0, "Müsli": 1}, ensure_ascii=False).encode())
    ha.wait_for(
        "the item's entity removed",
        lambda s: (
            named(s, "Cabinet cab Tea [green]") is None and value(s, "Cabinet cab Müsli") == "1"
        ),
    )
    check(True, "Tea [green] is gone from HA, Müsli reads 1")


def check_restart(ha: HomeAssistant) -> None:
    print("Home Assistant restarts")
    ha.stop()
    ha.start()
    wanted = {"Watch wch-01 Heart rate": "80.0", "Watch wch-01 Body temperature": "37.0"}
    ha.wait_for(
        "the vitals known again without a new reading",
        lambda s: all(value(s, n) == v for n, v in wanted.items()),
        timeout=60,
    )
    check(True, "after the restart the vitals read 80.0 and 37.0 (the retained latest)")


def check_availability(ha: HomeAssistant, watch: SeedWatch, gateway: subprocess.Popen) -> None:
    print("availability")
    watch.close()
    states = ha.wait_for(
        "the watch unavailable", lambda s: value(s, "Watch wch-01 Heart rate") == "unavailable"
    )
    check(value(states, "Cabinet cab LED strip") != "unavailable", "the cabinet stays available")
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(30)
    states = ha.wait_for(
        "every device unavailable with the gateway down",
        lambda s: value(s, "Cabinet cab LED strip") == "unavailable",
    )
    check(value(states, "Health Plus gateway Connection") == "off", "the gateway shows off")


def check_gateway_restart(ha: HomeAssistant, port: int) -> SeedDevice:
    """A new gateway knows nothing of the items announced before it: a cabinet whose
    inventory lost one while the gateway was down leaves that item's config in place."""
    print("the gateway restarts; an item left while it was down")
    cabinet = SeedDevice(port, b"cab")
    cabinet.send_sized(json.dumps({"Müsli": 1}, ensure_ascii=False).encode())
    states = ha.wait_for(
        "the cabinet back, the item that left unknown",
        lambda s: (
            value(s, "Cabinet cab Tea (green)") == "unknown"
            and value(s, "Cabinet cab LED strip") not in (None, "unavailable")
        ),
    )
    check(value(states, "Health Plus gateway Connection") == "on", "the gateway shows on again")
    check(value(states, "Cabinet cab Müsli") == "1", "Müsli reads 1")
    check(True, "Tea (green), no longer in the inventory, reads unknown")
    return cabinet


def scenario(ha: HomeAssistant, broker: Mosquitto, python: str, folder: Path) -> None:
    gateway, port = start_gateway(python, broker, folder)
    devices: list[SeedDevice] = []
    try:
        # a board on this project's firmware reports its version in its hello
        watch = SeedWatch(port, b"wch-01~v=1.2.0")
        devices += [watch, SeedDevice(port, b"cab"), SeedDevice(port, b"img")]
        check_entities(ha, watch, devices[1])
        check_commands(ha, watch, devices[1], devices[2])
        check_registry(ha)
        check_item_leaves(ha, devices[1])
        check_restart(ha)
        check_availability(ha, watch, gateway)
        gateway, port = start_gateway(python, broker, folder)
        devices.append(check_gateway_restart(ha, port))
        warnings = ha.warnings()
        check(
            warnings == [],
            "no MQTT or template warning in HA's log" + "".join(f"\n      {w}" for w in warnings),
        )
    finally:
        for device in devices:
            device.close()
        if gateway.poll() is None:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="check-ha-"))
    (folder / "mosquitto").mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    ha = HomeAssistant(folder / "ha")
    started = time.monotonic()
    version = HA_VERSION
    try:
        ha.start()
        print(f"Home Assistant {version} on port {ha.port}, Mosquitto on {broker.port}")
        ha.onboard()
        check(ha.config()["version"] == HA_VERSION, f"HA answers as {HA_VERSION}")
        ha.add_mqtt(broker.port)
        scenario(ha, broker, args.project_python, folder)
    except Failed as failure:
        print(f"FAILED on Home Assistant {version}: {failure} (logs in {folder})")
        return 1
    finally:
        ha.stop()
        broker.stop()
    took = time.monotonic() - started
    print(f"Home Assistant {version}: every check passed in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
