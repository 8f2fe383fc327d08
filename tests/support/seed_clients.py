"""Device clients written exactly like the original firmware's MicroPython snippets.

They use the same blocking calls with the same recv() sizes, so they prove the
gateway works with firmware that was never changed. A socket timeout keeps a
broken test from hanging.
"""

import json
import queue
import socket
import threading

from services.common.protocol import ID_REQUEST_FRAME


class SeedDevice:
    """The original firmware's ``_init(SERVER_IP, SERVER_PORT, name)`` plus its send helpers."""

    def __init__(
        self,
        port: int,
        name: bytes,
        host: str = "127.0.0.1",
        token: bytes = b"",
        source: str | None = None,
    ):
        client_socket = socket.socket()
        client_socket.settimeout(10)
        if source:  # another loopback address, to stand for another machine
            client_socket.bind((source, 0))
        client_socket.connect((host, port))
        while True:
            msg = client_socket.recv(35)
            if b"id" in msg:  # wait for the request for id declaration
                break
        client_socket.send(b"new~" + name + (b"~" + token if token else b""))
        while b"start" not in client_socket.recv(32):
            continue
        self.sock = client_socket

    def send_sized(self, msg: bytes) -> bool:
        """Convention 1: declare the size, wait for send, send the message."""
        self.sock.send(b"size-%d" % len(msg))
        while b"send" not in self.sock.recv(32):
            continue
        self.sock.send(msg)
        return True

    def recv_command(self, size: int = 35) -> bytes:
        return self.sock.recv(size)

    def close(self) -> None:
        self.sock.close()


class SeedWatch(SeedDevice):
    """The original watch firmware: on exactly b"bpm", answers two bare readings."""

    def __init__(self, port: int, name: bytes = b"wch", **kw):
        super().__init__(port, name, **kw)

    def serve_once(self, bpm_value: float, temperature: float) -> bytes:
        data = self.sock.recv(1024)
        if data == b"bpm":
            self.sock.send(f"{bpm_value:.2f},bpm".encode())
            self.sock.send(f"{temperature:.2f},temp".encode())
        return data


class SeedCabinet(SeedDevice):
    """The original cabinet firmware's loop, on a thread.

    It sends its inventory (convention 1) at start and whenever an item is taken or put
    back, and otherwise waits on ``recv(35)``, comparing the whole message: ``b"lof"``
    turns the strip off, ``b"lon"`` on, ``b"inv"`` sends the inventory again. Anything
    else matches none of them and is passed by; it is kept in ``ignored``.
    """

    def __init__(self, port: int, items: dict[str, int], name: bytes = b"cab", **kw):
        super().__init__(port, name, **kw)
        self.items = dict(items)
        self.lights_on: bool | None = None
        self.received: list[bytes] = []
        self.ignored: list[bytes] = []
        self._changes: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self.sock.settimeout(0.1)
        self._send_inventory()
        self.thread = threading.Thread(target=self._loop, name="seed-cabinet", daemon=True)
        self.thread.start()

    def set(self, item: str, count: int) -> None:
        """An item taken out or put back: the next inventory says so."""
        self._changes.put((item, count))

    def _send_inventory(self) -> None:
        body = json.dumps(self.items).encode()
        self.sock.send(b"size-%d" % len(body))
        while b"send" not in self._recv(32):  # a command arriving now is lost, as on the board
            continue
        self.sock.send(body)

    def _recv(self, size: int) -> bytes:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(size)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("the gateway closed the connection")
            return data
        raise ConnectionError("stopped")

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item, count = self._changes.get_nowait()
                    self.items[item] = count
                    self._send_inventory()
                    continue
                except queue.Empty:
                    pass
                try:
                    req_server = self.sock.recv(35)
                except TimeoutError:
                    continue
                if not req_server:
                    return
                self._command(req_server)
        except ConnectionError:
            return

    def _command(self, req_server: bytes) -> None:
        self.received.append(req_server)
        if req_server == b"lof":  # request to close lights
            self.lights_on = False
        elif req_server == b"lon":
            self.lights_on = True
        elif req_server == b"inv":
            self._send_inventory()
        else:
            self.ignored.append(req_server)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        super().close()


# Raw sockets for tests that speak the gateway's protocol by hand.


def raw_client(port: int) -> socket.socket:
    """A connection that has read the gateway's id request and nothing else."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    greeting = b""
    while len(greeting) < len(ID_REQUEST_FRAME):
        greeting += sock.recv(64)
    assert greeting == ID_REQUEST_FRAME
    return sock


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """True if the gateway closes the connection within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()
