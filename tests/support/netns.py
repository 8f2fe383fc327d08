"""A device host of our own: a network namespace joined to this one by a veth pair."""

import random
import subprocess


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class DeviceHost:
    """``10.250.<n>.2`` inside a namespace, reaching the test's servers at ``10.250.<n>.1``."""

    def __init__(self) -> None:
        n = random.randrange(1, 250)
        tag = f"{n}{random.randrange(1000, 9999)}"
        self.ns = f"hp{tag}"
        self.outer, self.inner = f"hpo{tag}", f"hpi{tag}"
        self.server_ip, self.device_ip = f"10.250.{n}.1", f"10.250.{n}.2"

    def __enter__(self) -> "DeviceHost":
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        _ip("link", "set", self.inner, "netns", self.ns)
        _ip("addr", "add", f"{self.server_ip}/30", "dev", self.outer)
        _ip("link", "set", self.outer, "up")
        self.run_ip("addr", "add", f"{self.device_ip}/30", "dev", self.inner)
        self.run_ip("link", "set", self.inner, "up")
        self.run_ip("link", "set", "lo", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)

    def run_ip(self, *args: str) -> None:
        _ip("netns", "exec", self.ns, "ip", *args)

    def popen(self, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], **kwargs)

    def cut(self) -> None:
        """Take the device's link down: nothing more crosses, not even a FIN or RST."""
        self.run_ip("link", "set", self.inner, "down")
