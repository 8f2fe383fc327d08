"""The board code on MicroPython's WebAssembly VM, driven one step (one event) per call.

``MicroPythonVM`` starts ``tests/mpvm/driver.mjs`` under Node.js, mounts the board's
files as ``deploy.sh`` lays them out on a board (``/lib/smartcab/*.py`` with
``wire.py`` and ``device_link.py``), the gateway's ``protocol.py`` beside them, and the
simulated hardware modules of ``tests/mpvm/hw``, and runs
Python source sent by the test. After every step the driver collects garbage at the
top level and reports ``gc.mem_alloc()``; ``peak`` is the largest live heap seen.
"""

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MPVM = ROOT / "tests" / "mpvm"
DRIVER = MPVM / "driver.mjs"
PACKAGE = MPVM / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
STEP_TIMEOUT_S = 60


class MicroPythonError(AssertionError):
    """A step raised on the VM; the message is MicroPython's traceback."""


def board_files() -> dict[str, str]:
    """The VM's filesystem: the shared library, the protocol module, simulated hardware."""
    files = {}
    for path in sorted((ROOT / "firmware" / "smartcab").glob("*.py")):
        files["/lib/smartcab/" + path.name] = path.read_text(encoding="utf-8")
    # the boards' protocol modules, and the gateway's end that the tests replay beside them
    for name in ("wire", "device_link", "protocol"):
        path = ROOT / "services" / "common" / f"{name}.py"
        files[f"/lib/smartcab/{name}.py"] = path.read_text(encoding="utf-8")
    for path in sorted((MPVM / "hw").glob("*.py")):
        files["/lib/" + path.name] = path.read_text(encoding="utf-8")
    return files


class MicroPythonVM:
    def __init__(self, extra_files: dict[str, str] | None = None):
        node = shutil.which("node")
        if node is None or not PACKAGE.exists():
            raise RuntimeError("the MicroPython VM needs Node.js and `make mpvm` (npm ci)")
        self.proc = subprocess.Popen(
            [node, str(DRIVER)],
            cwd=MPVM,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.peak = 0
        self.allocs: list[int] = []
        assert json.loads(self._read()) == {"ready": True}
        self.step(files={**board_files(), **(extra_files or {})})

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MicroPython VM exited")
        return line

    def step(
        self, code: str = "", files: dict[str, str] | None = None, binary: dict | None = None
    ) -> str:
        """Run ``code`` in the VM's __main__; return what it printed."""
        binary = {path: data.hex() for path, data in (binary or {}).items()}
        request = {"code": code, "files": files or {}, "binary": binary}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self._read())
        self.allocs.append(reply["alloc"])
        self.peak = max(self.peak, reply["alloc"])
        if not reply["ok"]:
            raise MicroPythonError(reply["error"] + reply["out"])
        return reply["out"]

    def eval(self, expr: str):
        """The value of ``expr``, carried back as JSON."""
        out = self.step(f"import json as _j\nprint(_j.dumps({expr}))\ndel _j")
        return json.loads(out.splitlines()[-1])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
