"""HAProxy (Debian's) with the project's example configs: in front of gateways, or dashboards."""

import os
import shutil
import subprocess
from pathlib import Path

from .net import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "haproxy" / "gateways.cfg"
WEB_CONFIG = ROOT / "deploy" / "haproxy" / "web.cfg"
# the variables each config reads: where it listens, then its two servers
GATEWAY_NAMES = ("DEVICES_BIND", "GATEWAY_A", "GATEWAY_B")
WEB_NAMES = ("WEB_BIND", "WEB_A", "WEB_B")
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


class Balancer:
    """A config of ``deploy/haproxy`` as shipped, its addresses given by the environment."""

    def __init__(
        self,
        workdir: Path,
        server_a: int,
        server_b: int,
        config: Path = CONFIG,
        names: tuple[str, str, str] = GATEWAY_NAMES,
    ) -> None:
        self.port = free_port()
        self.config = config
        self.log = workdir / f"haproxy-{config.stem}.log"
        bind, a, b = names
        self.env = {
            **os.environ,
            bind: f"127.0.0.1:{self.port}",
            a: f"127.0.0.1:{server_a}",
            b: f"127.0.0.1:{server_b}",
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Balancer":
        if not Path(HAPROXY).exists():
            raise RuntimeError("haproxy is not installed: run `make test`, which installs it")
        self._log_file = self.log.open("ab")
        # -db: stay in the foreground, as a child the test can stop
        self.proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(self.config)],
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
