"""A real Mosquitto broker on a free port in a temporary folder."""

import getpass
import shutil
import signal
import subprocess
from pathlib import Path

from .net import free_port, wait_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """Start, stop, restart and kill a broker; persistence survives restarts."""

    def __init__(self, workdir: Path, extra_conf: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log = workdir / "mosquitto.log"
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    # Started as root, Mosquitto drops to the ``mosquitto`` user, which
                    # cannot write its log and persistence into pytest's private folder.
                    f"user {getpass.getuser()}",
                    "allow_anonymous true" if "allow_anonymous" not in extra_conf else "",
                    "persistence true",
                    f"persistence_location {workdir}/",
                    f"log_dest file {self.log}",
                    "log_type all",
                    "max_queued_messages 100000",
                    extra_conf,
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        if not Path(MOSQUITTO).exists():
            raise RuntimeError("mosquitto is not installed: run `make test`, which installs it")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def env(self) -> dict[str, str]:
        return {"MQTT_HOST": self.host, "MQTT_PORT": str(self.port)}
