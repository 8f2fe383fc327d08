"""The board's main loop: Wi-Fi, one blocking socket, the app, reconnects, watchdog.

``run(app, cfg, platform)`` is the same on the ESP32 and under CPython; only the
``platform`` differs (``Platform`` here, ``firmware.sim.host.HostPlatform`` on a PC).
"""

import json
import select

from . import client

try:
    from . import device_link
except ImportError:
    from services.common import device_link

CONFIG_FILE = "config.json"
RECV_SIZE = 1024
IO_TIMEOUT_S = 10  # a write that cannot finish in this time means the link is dead
MAX_WAIT_MS = 1000  # wake at least this often to feed the watchdog
WIFI_TIMEOUT_MS = 20000
WATCHDOG_MS = 30000


def load_config(path=CONFIG_FILE):
    with open(path) as f:
        return json.load(f)


class Platform:
    """The ESP32 under MicroPython: network.WLAN, machine.WDT, time.ticks_ms."""

    def __init__(self, cfg):
        import time

        import machine

        self.time = time
        ms = cfg.get("watchdog_ms", WATCHDOG_MS)
        self._wdt = machine.WDT(timeout=ms) if ms else None
        self._wlan = None

    def ticks_ms(self):
        return self.time.ticks_ms()

    def ticks_diff(self, a, b):
        return self.time.ticks_diff(a, b)

    def sleep_ms(self, ms):
        self.time.sleep_ms(ms)

    def feed(self):
        if self._wdt:
            self._wdt.feed()

    def log(self, *args):
        print(*args)

    def join_wifi(self, cfg):
        import network

        if self._wlan is None:
            self._wlan = network.WLAN(network.STA_IF)
            self._wlan.active(True)
        if self._wlan.isconnected():
            return
        self.log("wifi: joining", cfg["wifi_ssid"])
        self._wlan.connect(cfg["wifi_ssid"], cfg.get("wifi_password", ""))
        waited = 0
        while not self._wlan.isconnected():
            if waited >= WIFI_TIMEOUT_MS:
                raise OSError("wifi: no connection to %s" % cfg["wifi_ssid"])
            self.feed()
            self.time.sleep_ms(200)
            waited += 200
        self.log("wifi: address", self._wlan.ifconfig()[0])

    def connect(self, host, port):
        import socket

        addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
        sock = socket.socket()
        try:
            sock.settimeout(IO_TIMEOUT_S)
            sock.connect(addr)
        except OSError:
            sock.close()
            raise
        return sock


def write_all(sock, data):
    """Write every byte: send() may take only part of a large chunk."""
    view = memoryview(data)
    while len(view):
        n = sock.send(view)
        if n is None or n <= 0:
            raise OSError("socket write failed")
        view = view[n:]


def serve(sock, session, clock, platform, stop=None):
    """Drive one connection until it fails; raises OSError or ProtocolError."""
    app = session.app
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while stop is None or not stop():
        platform.feed()
        chunk = session.next_chunk()
        while chunk is not None:
            write_all(sock, chunk)
            platform.feed()
            chunk = session.next_chunk()
        wait = app.next_poll(clock.now())
        wait = MAX_WAIT_MS if wait is None else max(0, min(wait, MAX_WAIT_MS))
        for _obj, flags in poller.poll(wait):
            if flags & (select.POLLHUP | select.POLLERR):
                raise OSError("connection lost")
            data = sock.recv(RECV_SIZE)
            if not data:
                raise OSError("gateway closed the connection")
            session.feed(data, clock.now())
        app.poll(session, clock.now())


def run(app, cfg, platform, stop=None):
    """Connect, serve, and reconnect with backoff after any error, until ``stop()``."""
    clock = client.Clock(platform.ticks_ms, platform.ticks_diff)
    backoff = client.Backoff(
        cfg.get("backoff_ms", client.BACKOFF_FIRST_MS),
        cfg.get("backoff_max_ms", client.BACKOFF_MAX_MS),
    )
    host, port = cfg["gateway_host"], cfg.get("gateway_port", 5050)
    while stop is None or not stop():
        platform.feed()
        sock = None
        session = None
        try:
            platform.join_wifi(cfg)
            sock = platform.connect(host, port)
            session = client.Session(app, cfg["id"], cfg.get("token"))
            serve(sock, session, clock, platform, stop)
        except (OSError, device_link.ProtocolError) as exc:
            platform.log("link:", cfg["id"], "error:", repr(exc))
        finally:
            if sock is not None:
                sock.close()
            app.on_disconnect()
        if session is not None and session.started:
            backoff.reset()
        delay = backoff.next_ms()
        # sleep in slices so the watchdog is fed and a stop is noticed
        while delay > 0 and (stop is None or not stop()):
            platform.feed()
            platform.sleep_ms(min(delay, MAX_WAIT_MS))
            delay -= MAX_WAIT_MS
