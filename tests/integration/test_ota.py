"""Updates over the air, end to end: a cabinet board process (CPython) against the real
gateway, Mosquitto and the web serving the bundle; the board's flash is a folder."""

import hashlib
import http.server
import json
import threading
from typing import ClassVar

import pytest

from firmware.smartcab import ota
from tests.support import browser, services
from tests.support.mqtt import TopicLog
from tests.support.net import free_port, wait_until
from tests.support.ota_board import BoardProcess, flash, library_files

TOKEN = "cab-secret-token-1"
NEW = "1.1.0"


@pytest.fixture
def rig(tmp_path, broker):
    """Gateway and web sharing one device registry; a board flashed by cable."""
    registry = tmp_path / "devices.toml"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    registry.write_text(f'[devices.cab]\nkind = "cabinet"\ntoken_sha256 = "{digest}"\n')
    gw = services.gateway(tmp_path, broker.env(), GATEWAY_DEVICES=str(registry)).start()
    web_env = {
        **broker.env(),
        "WEB_DEVICES": str(registry),
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
    }
    web = browser.web(tmp_path, web_env).start()
    rig = Rig(
        tmp_path, broker, gw, web, {**web_env, "SMARTCAB_DATA_DIR": str(tmp_path / "web-data")}
    )
    with TopicLog(broker.host, broker.port) as mqtt:
        rig.mqtt = mqtt
        yield rig
    for board in rig.boards:
        board.stop()
    web.kill()
    gw.kill()


class Rig:
    def __init__(self, tmp_path, broker, gateway, web, web_env):
        self.tmp = tmp_path
        self.broker = broker
        self.gateway = gateway
        self.web = web
        self.web_env = web_env
        self.boards: list[BoardProcess] = []
        self.flash_dir = tmp_path / "board"

    def board(self, ota_url=None, env=None) -> BoardProcess:
        flash(
            self.flash_dir,
            {
                "id": "cab",
                "token": TOKEN,
                "gateway_host": "127.0.0.1",
                "gateway_port": self.gateway.port,
                "ota_url": ota_url or f"http://127.0.0.1:{self.web.port}",
                "slots": [["Pepsi", [1, 2]]],
                "backoff_ms": 100,
                "backoff_max_ms": 400,
            },
        )
        board = BoardProcess(self.flash_dir, env).start()
        self.boards.append(board)
        self.wait_version(ota.FALLBACK_VERSION, board)
        return board

    def wait_version(self, version, board, count=1):
        topic = "smartcab/devices/cab/firmware"
        self.mqtt.wait(topic, count, timeout=30, where=lambda m: m.payload == version.encode())

    def publish(self, files: dict[str, bytes], version=NEW) -> str:
        bundle = self.tmp / f"bundle-{version}"
        bundle.mkdir()
        for name, data in files.items():
            (bundle / name).write_bytes(data)
        return browser.cli(
            self.web_env,
            "firmware",
            "publish",
            str(bundle),
            "--kind",
            "cabinet",
            "--version",
            version,
        )

    def journal(self) -> dict:
        path = self.flash_dir / "ota.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def installed(self) -> str:
        manifest = self.flash_dir / "lib" / "smartcab" / "manifest.json"
        return json.loads(manifest.read_text())["version"] if manifest.exists() else "cable"


def new_build() -> dict[str, bytes]:
    files = library_files()
    files["client.py"] += b"\n# build 1.1.0\n"
    return files


def test_a_good_update_is_installed_and_kept(rig):
    board = rig.board()
    out = rig.publish(new_build())
    assert "offered to 1 of 1" in out
    rig.wait_version(NEW, board)
    wait_until(lambda: rig.journal().get("state") == "done", timeout=10, what="confirmed")
    assert rig.installed() == NEW
    assert (rig.flash_dir / "lib/smartcab/client.py").read_bytes().endswith(b"# build 1.1.0\n")
    assert (rig.flash_dir / "prev/client.py").exists()  # kept for the next rollback
    assert board.exits == [3]  # one reset, into the new code
    progress = json.loads((rig.tmp / "web-data/firmware/progress/cab.json").read_text())
    assert progress["version"] == NEW and progress["files"] == len(new_build())


def assert_kept_old_code(rig, board, reason: str) -> None:
    wait_until(lambda: reason in board.text(), timeout=30, what=f"refusal: {reason}")
    rig.wait_version(ota.FALLBACK_VERSION, board, count=2)  # back on the gateway, old code
    assert rig.installed() == "cable"
    assert not (rig.flash_dir / "next").exists()
    assert rig.journal().get("state") != "pending"
    assert board.exits == []  # never reset


def test_a_corrupted_bundle_is_refused(rig):
    rig.publish(new_build())  # no board online yet: it is offered when it registers
    stored = rig.tmp / "web-data/firmware/cabinet" / NEW / "cabinet.py"
    stored.write_bytes(stored.read_bytes().replace(b"Cabinet", b"Cabinot"))
    board = rig.board()
    assert_kept_old_code(rig, board, "does not match its sha256: bundle corrupted")


class Impostor(http.server.BaseHTTPRequestHandler):
    """A server that is not this deployment: right files, but it cannot know the key."""

    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self):
        if self.path.endswith("/manifest"):
            entries = [
                {"path": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                for n, d in sorted(self.files.items())
            ]
            body = json.dumps({"kind": "cabinet", "version": NEW, "files": entries}).encode()
            tag = ota.hexlify(ota.hmac_sha256(hashlib.sha256(b"a guess").digest(), body))
        else:
            body, tag = self.files[self.path.rsplit("/", 1)[1]], ""
        self.send_response(200)
        self.send_header("X-Manifest-HMAC", tag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_bundle_not_from_this_deployment_is_refused(rig):
    Impostor.files = new_build()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        board = rig.board(ota_url=f"http://127.0.0.1:{server.server_port}")
        rig.mqtt.publish("smartcab/devices/cab/cmd", "upd")
        assert_kept_old_code(rig, board, "manifest not signed by this deployment")
    finally:
        server.shutdown()
        server.server_close()


def test_a_bundle_whose_code_crashes_is_rolled_back(rig):
    board = rig.board()
    broken = new_build()
    broken["cabinet.py"] = b"raise RuntimeError('broken build')\n" + broken["cabinet.py"]
    rig.publish(broken)
    wait_until(lambda: rig.journal().get("state") == "failed", timeout=30, what="rollback")
    rig.wait_version(ota.FALLBACK_VERSION, board, count=2)
    assert "broken build" in rig.journal()["reason"]
    assert rig.journal()["version"] == NEW
    assert rig.installed() == "cable"
    assert not (rig.flash_dir / "lib/smartcab/cabinet.py").read_bytes().startswith(b"raise")
    assert board.exits[:2] == [3, 3]  # into the new code, and back after its crash
    rig.mqtt.publish("smartcab/devices/cab/cmd", "upd")  # offered again: it knows better
    wait_until(lambda: "running or failed before" in board.text(), timeout=20, what="refusal")


@pytest.mark.parametrize("step", ["journal", "moved-old", "moved-new"])
def test_a_power_cut_in_the_swap_leaves_a_bootable_board(rig, step):
    board = rig.board(env={"OTA_CUT_AT": step})
    rig.publish(new_build())
    wait_until(lambda: board.exits, timeout=30, what="the power cut")
    assert board.exits[0] == -9
    assert f"power cut at {step}" in board.text()
    rig.wait_version(NEW, board)  # the next boot finished the swap and the code came up
    wait_until(lambda: rig.journal().get("state") == "done", timeout=10, what="confirmed")
    assert rig.installed() == NEW
    assert not (rig.flash_dir / "next").exists()
