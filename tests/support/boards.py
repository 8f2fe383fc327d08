"""Run the boards' firmware loop (``smartcab.board.run``) in a thread with fake hardware."""

import random
import threading
from pathlib import Path

from firmware.sim import hardware
from firmware.sim.host import HostPlatform
from firmware.smartcab import board, cabinet, camera, watch

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"


def board_files() -> list[Path]:
    """Every Python file that goes onto a board: the firmware and the shared protocol."""
    files = [
        path
        for path in sorted(FIRMWARE.rglob("*.py"))
        if (FIRMWARE / "sim") not in path.parents and "__pycache__" not in path.parts
    ]
    # the protocol modules the boards share with the gateway: the wire format and a device's end
    return [*files, *(ROOT / "services/common" / f"{name}.py" for name in ("wire", "device_link"))]


class BoardThread:
    """One board: its app, its config and the blocking firmware loop on a thread."""

    def __init__(self, app, port: int, device_id: str, token: str | None = None, **cfg):
        self.app = app
        self.cfg = {
            "id": device_id,
            "token": token or "",
            "gateway_host": "127.0.0.1",
            "gateway_port": port,
            "backoff_ms": 100,
            "backoff_max_ms": 400,
            **cfg,
        }
        self.platform = HostPlatform()
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name=f"board-{device_id}", daemon=True)

    def _run(self) -> None:
        try:
            board.run(self.app, self.cfg, self.platform, stop=self._stop.is_set)
        except BaseException as exc:  # surfaced by stop(): a crash must fail the test
            self.errors.append(exc)

    def __enter__(self) -> "BoardThread":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "board loop did not stop"
        assert not self.errors, f"board loop crashed: {self.errors!r}"


def make_watch(seed: int = 1, finger: bool | None = True, speed: float = 4.0, measure_s=6.0):
    """A watch on a fake I2C bus with a steady wearer; sensor time runs ``speed`` x fast."""
    body = hardware.Body(random.Random(seed), finger_off_rate=0.0, motion_rate=0.0)
    body.forced = finger
    i2c = hardware.watch_i2c(body, speed=speed)
    app = watch.from_config({"measure_s": measure_s, "poll_ms": 100}, i2c)
    return app, body


def make_camera(frames: list[bytes], seed: int = 1):
    return camera.Camera(hardware.FakeCam(frames, random.Random(seed)))


def make_cabinet(slots, seed: int = 1):
    """A cabinet whose shelf changes only when the test says so."""
    items, _pins = cabinet.layout({"slots": slots})
    shelf = hardware.Shelf(len(items), random.Random(seed), every_s=0)
    strip = hardware.FakeStrip(len(items))
    app = cabinet.Cabinet(items, shelf, strip, poll_ms=20, debounce_ms=100)
    return app, shelf, strip
