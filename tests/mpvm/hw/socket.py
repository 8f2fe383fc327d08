"""Simulated ``socket`` for the board loop: connections whose traffic the test scripts.

``refuse`` makes the next connects fail as an unreachable gateway does; each
connection's bytes from the gateway are queued with ``deliver()`` (or up front in
``script``), and what the board writes collects in ``sent``. ``select.poll`` works
on these sockets through the stream ``ioctl``, as on the board.
"""

import io

AF_INET = 2
SOCK_STREAM = 1
_POLL = 3
_POLLIN = 1
_POLLHUP = 0x10
refuse = 0
script = []  # per future connection: list of byte strings the gateway sends, then hangs up
connections = []
current = None


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    if not isinstance(port, int):
        raise TypeError("port must be an int")
    return [(AF_INET, SOCK_STREAM, 0, "", (host, port))]


class socket(io.IOBase):
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        global current
        self.inbox = []
        self.sent = bytearray()
        self.hangup = False
        self.closed = False
        self.connected = False
        self.timeout = None
        current = self
        connections.append(self)

    def settimeout(self, t):
        self.timeout = t

    def connect(self, addr):
        global refuse
        if refuse > 0:
            refuse -= 1
            raise OSError(113)  # EHOSTUNREACH
        self.connected = True
        if script:
            self.inbox.extend(script.pop(0))
            self.hangup = True

    def deliver(self, data):
        self.inbox.append(bytes(data))

    def take(self):
        out = bytes(self.sent)
        self.sent = bytearray()
        return out

    def send(self, data):
        if self.closed or not self.connected:
            raise OSError(128)  # ENOTCONN
        n = min(len(data), 536)  # one TCP segment's worth, as a busy lwIP takes it
        self.sent += bytes(data[:n])
        return n

    def recv(self, n):
        if not self.inbox:
            return b""  # only reached after a hang-up, as poll reports one
        head = self.inbox[0]
        if len(head) > n:
            self.inbox[0] = head[n:]
            return head[:n]
        self.inbox.pop(0)
        return head

    def ioctl(self, req, arg):
        if req == _POLL:
            flags = 0
            if self.inbox or self.hangup:
                flags |= _POLLIN
            return flags & (arg | _POLLHUP)
        return 0

    def close(self):
        self.closed = True
