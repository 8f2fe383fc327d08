"""A CPython stand-in for ``smartcab.board.Platform``: real sockets, no Wi-Fi, no watchdog."""

import logging
import socket
import ssl
import time

from firmware.smartcab import board

log = logging.getLogger("firmware.board")


class HostPlatform:
    """Runs the board's blocking loop (``board.run``) on a PC, e.g. in a test thread."""

    def __init__(self, source_address: str | None = None):
        self.source_address = source_address
        self.wifi_joins = 0
        self.connects = 0
        self.feeds = 0

    def ticks_ms(self) -> int:
        return int(time.monotonic() * 1000)

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def sleep_ms(self, ms: int) -> None:
        time.sleep(ms / 1000)

    def feed(self) -> None:
        self.feeds += 1

    def log(self, *args) -> None:
        log.info(" ".join(str(a) for a in args))

    def reset(self) -> None:
        """A board resets into an installed update; on a PC the process ends instead."""
        raise SystemExit("board reset")

    def join_wifi(self, cfg: dict) -> None:
        self.wifi_joins += 1

    def connect(self, host: str, port: int) -> socket.socket:
        source = (self.source_address, 0) if self.source_address else None
        sock = socket.create_connection((host, port), board.IO_TIMEOUT_S, source)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1
        return sock

    def wrap_tls(self, sock: socket.socket, ca: bytes, hostname: str) -> ssl.SSLSocket:
        """TLS as the board does it: only ``ca`` (DER) is trusted, the name is checked."""
        context = ssl.create_default_context(cadata=ca)
        return context.wrap_socket(sock, server_hostname=hostname)
