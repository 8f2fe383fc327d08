"""HAProxy (Debian's) in TCP mode, with the project's example config, in front of gateways."""

import os
import shutil
import subprocess
from pathlib import Path

from .net import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "haproxy" / "gateways.cfg"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Balancer:
    """``deploy/haproxy/gateways.cfg`` as shipped, its addresses given by the environment."""

    def __init__(self, workdir: Path, gateway_a: int, gateway_b: int) -> None:
        self.port = free_port()
        self.log = workdir / "haproxy.log"
        self.env = {
            **os.environ,
            "DEVICES_BIND": f"127.0.0.1:{self.port}",
            "GATEWAY_A": f"127.0.0.1:{gateway_a}",
            "GATEWAY_B": f"127.0.0.1:{gateway_b}",
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Balancer":
        if not Path(HAPROXY).exists():
            raise RuntimeError("haproxy is not installed: run `make test`, which installs it")
        self._log_file = self.log.open("ab")
        # -db: stay in the foreground, as a child the test can stop
        self.proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(CONFIG)],
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        self._log_file.close()
