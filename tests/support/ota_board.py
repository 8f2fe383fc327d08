"""A cabinet board as a process whose working directory is its flash, for the OTA tests.

``python -m tests.support.ota_board`` in a folder laid out as ``deploy.sh`` lays out a
board (``lib/smartcab/``, ``lib/otaboot.py``, ``config.json``) runs what ``main.py`` runs
on the ESP32: ``otaboot.main`` around the board loop, with the library imported from
``lib/`` (the code an update replaces). A reset ends the process with code 3 and
``BoardProcess`` starts it again, as the chip reboots; ``OTA_CUT_AT=<step>`` kills it
(SIGKILL, a power cut) at that step of a swap.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESET_CODE = 3


class HostBoard:
    """Platform and reset hardware for the board loop on a PC."""

    def ticks_ms(self):
        return int(time.monotonic() * 1000)

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        time.sleep(ms / 1000)

    def feed(self):
        pass

    def log(self, *args):
        print(*args, flush=True)

    def join_wifi(self, cfg):
        pass

    def connect(self, host, port):
        return socket.create_connection((host, port), timeout=10)

    def reset(self):
        sys.stdout.flush()
        os._exit(RESET_CODE)

    def arm(self, ms, callback):
        timer = threading.Timer(ms / 1000, callback)
        timer.daemon = True
        timer.start()


class Shelf:
    def __init__(self, n):
        self.n = n

    def read(self):
        return [True] * self.n


def main() -> None:
    sys.path.insert(0, str(Path.cwd() / "lib"))
    import otaboot

    cut = os.environ.get("OTA_CUT_AT")
    if cut:

        def power_cut(step):
            if step == cut:
                print("power cut at", step, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

        otaboot.step_hook = power_cut
    hw = HostBoard()

    def start():
        from smartcab import board, cabinet

        cfg = board.load_config()
        items, _pins = cabinet.layout(cfg)
        app = cabinet.Cabinet(items, Shelf(len(items)), None)
        board.run(app, cfg, hw)

    otaboot.main(start, hw, log=hw.log)


def library_files() -> dict[str, bytes]:
    """The board library as ``deploy.sh`` copies it to ``lib/smartcab``."""
    files = {p.name: p.read_bytes() for p in sorted((ROOT / "firmware/smartcab").glob("*.py"))}
    for name in ("wire", "device_link"):
        files[name + ".py"] = (ROOT / "services/common" / (name + ".py")).read_bytes()
    return files


def flash(board_root: Path, config: dict) -> None:
    """Flash by cable: the library, the boot module, config.json."""
    import json

    lib = board_root / "lib" / "smartcab"
    lib.mkdir(parents=True)
    for name, data in library_files().items():
        (lib / name).write_bytes(data)
    shutil.copy(ROOT / "firmware" / "otaboot.py", board_root / "lib" / "otaboot.py")
    (board_root / "config.json").write_text(json.dumps(config))


class BoardProcess:
    """Runs the board and restarts it whenever it ends, until stopped."""

    def __init__(self, board_root: Path, env: dict[str, str] | None = None):
        self.root = board_root
        self.first_env = env or {}
        self.log = board_root.parent / f"{board_root.name}.log"
        self.exits: list[int] = []
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.first_env}
        with self.log.open("ab") as out:
            while not self._stop.is_set():
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.support.ota_board"],
                    cwd=self.root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
                code = self.proc.wait()
                if self._stop.is_set():
                    return
                self.exits.append(code)
                env = {k: v for k, v in env.items() if k != "OTA_CUT_AT"}  # one cut only
                time.sleep(0.2)

    def start(self) -> "BoardProcess":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        self._thread.join(10)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


if __name__ == "__main__":
    main()
