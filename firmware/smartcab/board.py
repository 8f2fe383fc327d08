"""The board's main loop: Wi-Fi, one socket, the app, reconnects, watchdog.

``run(app, cfg, platform)`` is the same on the ESP32 and under CPython; only the
``platform`` differs (``Platform`` here, ``firmware.sim.host.HostPlatform`` on a PC).
With ``"tls": true`` in config.json the platform wraps the socket in TLS, trusting only
the CA in ``tls_ca`` (the gateway's ``GATEWAY_TLS_PORT``); the loop above it is the same.
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

    def reset(self):
        import machine

        machine.reset()

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

    def wrap_tls(self, sock, ca, hostname):
        """TLS over ``sock``, verifying the gateway's certificate against ``ca`` (DER)."""
        import ssl

        # ssl.wrap_socket takes one DER CA on every MicroPython since 1.21 (mbedtls ports)
        stream = ssl.wrap_socket(
            sock, cert_reqs=ssl.CERT_REQUIRED, cadata=ca, server_hostname=hostname
        )
        return TlsStream(stream)


class TlsStream:
    """MicroPython's TLS stream with the two socket calls ``serve`` makes.

    Its SSLSocket has only read() and write(), and a blocking read(n) waits for all n
    bytes, so after the handshake it runs non-blocking: poll() says when to read, read()
    gives what has arrived (None: a record not whole yet), write() waits for room.
    """

    def __init__(self, stream):
        self.stream = stream  # what poll() watches
        stream.setblocking(False)
        self._writable = select.poll()
        self._writable.register(stream, select.POLLOUT)

    def recv(self, size):
        return self.stream.read(size)

    def send(self, data):
        while True:
            n = self.stream.write(data)
            if n is not None:
                return n
            if not self._writable.poll(IO_TIMEOUT_S * 1000):
                raise OSError("tls: write timed out")

    def close(self):
        self.stream.close()


def write_all(sock, data):
    """Write every byte: send() may take only part of a large chunk."""
    view = memoryview(data)
    while len(view):
        n = sock.send(view)
        if n is None or n <= 0:
            raise OSError("socket write failed")
        view = view[n:]


def ca_der(path):
    """The CA certificate in ``path`` (PEM as make-certs.sh writes it, or DER) as DER."""
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN" not in data:
        return data
    import binascii

    body = data.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END CERTIFICATE-----")[0]
    return binascii.a2b_base64(b"".join(body.split()))


def open_link(platform, cfg, host, port):
    """The connection to the gateway: a plain socket, or TLS when config.json says so."""
    sock = platform.connect(host, port)
    if not cfg.get("tls"):
        return sock
    try:
        try:
            ca = ca_der(cfg.get("tls_ca", "ca.crt"))
        except (ValueError, IndexError) as exc:
            raise OSError("tls: tls_ca is not a PEM or DER certificate: %r" % (exc,)) from exc
        return platform.wrap_tls(sock, ca, cfg.get("tls_hostname") or host)
    except BaseException:
        sock.close()
        raise


def _receive(sock):
    """What the gateway sent; None when a TLS record has not arrived whole yet."""
    data = sock.recv(RECV_SIZE)
    pending = getattr(sock, "pending", None)  # CPython's TLS keeps decrypted bytes poll misses
    while data and pending is not None and pending():
        data += sock.recv(RECV_SIZE)
    return data


def serve(sock, session, clock, platform, stop=None):
    """Drive one connection until it fails (OSError, ProtocolError) or an update is offered."""
    app = session.app
    poller = select.poll()
    poller.register(getattr(sock, "stream", sock), select.POLLIN)
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
            data = _receive(sock)
            if data is None:
                continue
            if not data:
                raise OSError("gateway closed the connection")
            session.feed(data, clock.now())
        if session.update_offered:
            return
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
            sock = open_link(platform, cfg, host, port)
            session = _session(app, cfg)
            serve(sock, session, clock, platform, stop)
        except (OSError, device_link.ProtocolError) as exc:
            platform.log("link:", cfg["id"], "error:", repr(exc))
        finally:
            if sock is not None:
                sock.close()
            app.on_disconnect()
        if session is not None and session.update_offered:
            _update(cfg, platform, app)
        if session is not None and session.started:
            backoff.reset()
        delay = backoff.next_ms()
        # sleep in slices so the watchdog is fed and a stop is noticed
        while delay > 0 and (stop is None or not stop()):
            platform.feed()
            platform.sleep_ms(min(delay, MAX_WAIT_MS))
            delay -= MAX_WAIT_MS


def _session(app, cfg):
    """A session; a board with ``ota_url`` reports its version and confirms an update."""
    if not cfg.get("ota_url"):
        return client.Session(app, cfg["id"], cfg.get("token"))
    from . import ota  # loaded only on boards that take updates: it costs heap

    session = client.Session(app, cfg["id"], cfg.get("token"), ota.installed_version())
    session.on_registered = ota.otaboot.confirm  # the new code came up and registered
    return session


def _update(cfg, platform, app):
    """Fetch and install the offered update, then reset into it; a refusal keeps this code."""
    from . import ota

    try:
        version = ota.update(cfg, platform, app.kind)
    except (ota.UpdateError, OSError, ValueError) as exc:
        platform.log("ota: update refused:", repr(exc))
        return
    platform.log("ota: restarting into", version)
    platform.reset()
