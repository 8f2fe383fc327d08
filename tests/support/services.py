"""Run the project's services as real subprocesses, as `python -m services.<name>`."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .net import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """One service process with its own environment and log file."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        env: dict[str, str],
        port: int | None = None,
        wrapper: tuple[str, ...] = (),
    ):
        self.name = name
        self.wrapper = wrapper  # a command that execs the service in the end (e.g. unshare)
        self.workdir = workdir
        self.port = port
        self.log = workdir / f"{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "GATEWAY_"))},
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "DEBUG",
            **env,
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ServiceProcess":
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", f"services.{self.name}"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        if self.port:
            try:
                wait_port(self.port, timeout=15)
            except TimeoutError:
                log = self.log_text()
                self.kill()  # no process left behind to meet a later test's servers
                raise RuntimeError(f"{self.name} did not start:\n{log}") from None
        return self

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM and wait; returns the exit code."""
        code = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout)
        elif self.proc:
            code = self.proc.returncode
        self.proc = None
        self._log_file.close()
        return code

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self._log_file.close()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` appears in the log and return the matching line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_text().splitlines():
                if text in line:
                    return line
            time.sleep(0.05)
        raise AssertionError(f"{self.name} never logged {text!r}; log:\n{self.log_text()[-4000:]}")


def gateway(workdir: Path, broker_env: dict[str, str], **settings: str) -> ServiceProcess:
    port = free_port()
    env = {**broker_env, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}
    if "GATEWAY_DEVICES" not in settings:
        env["GATEWAY_TRUSTED_LAN"] = "1"  # the tests' simulated devices, on loopback only
    env |= settings
    return ServiceProcess("gateway", workdir, env, port=port)
