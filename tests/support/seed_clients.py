"""Device clients written exactly like the original firmware's MicroPython snippets.

They use the same blocking calls with the same recv() sizes, so they prove the
gateway works with firmware that was never changed. A socket timeout keeps a
broken test from hanging.
"""

import socket

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
