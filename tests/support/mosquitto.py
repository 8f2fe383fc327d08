"""A real Mosquitto broker on a free port in a temporary folder."""

import getpass
import selectors
import shutil
import signal
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

from .net import free_port, wait_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """Start, stop, restart and kill a broker; persistence survives restarts."""

    def __init__(self, workdir: Path, extra_conf: str = "", log_types: str = "all") -> None:
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
                    *(f"log_type {t}" for t in log_types.split()),
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

    @contextmanager
    def frozen(self):
        """Stop the broker's process for a while: connections open, nothing is answered."""
        self.proc.send_signal(signal.SIGSTOP)
        try:
            yield self
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def env(self) -> dict[str, str]:
        return {"MQTT_HOST": self.host, "MQTT_PORT": str(self.port)}


def mosquitto_sub(broker: Mosquitto, topics, count: int, fmt: str) -> subprocess.Popen:
    """Start the stock ``mosquitto_sub`` for ``count`` messages; return once it is subscribed.

    A retained message on a probe topic, subscribed to last, arrives only after the broker
    has taken every subscription before it; its line is read here, so the caller sees only
    the ``count`` messages it asked for.
    """
    cli = shutil.which("mosquitto_sub")
    publish = shutil.which("mosquitto_pub")
    assert cli and publish, "mosquitto-clients is not installed: run `make test`"
    probe = f"test/probe/{uuid.uuid4().hex[:8]}"
    # The stock client, not paho, and epoll, not select(): callers may hold descriptors
    # above 1023, where select() cannot go.
    where = ["-h", broker.host, "-p", str(broker.port)]
    retained = ["-q", "1", "-r", "-t", probe, "-m", "ready"]
    subprocess.run([publish, *where, *retained], check=True, timeout=10)
    command = [cli, *where, "-C", str(count + 1), "-F", fmt]
    for topic in [*topics, probe]:
        command += ["-t", topic]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    with selectors.DefaultSelector() as waiting:
        waiting.register(proc.stdout, selectors.EVENT_READ)
        first = proc.stdout.readline() if waiting.select(10) else ""
    if not first.startswith(probe):
        proc.kill()
        proc.wait()
        raise AssertionError(f"mosquitto_sub did not subscribe in 10 s (it printed {first!r})")
    return proc
