"""A device's end of the wire protocol: what the gateway sends, parsed; what to answer, built.

Used by the firmware on the boards (copied there with ``wire``), the simulator
and the tests. Like ``wire``, it keeps to what MicroPython runs.
"""

from .wire import (
    COMMANDS,
    DIGITS,
    HEADER_SIZE,
    HELLO_PREFIX,
    ID_REQUEST,
    SEND,
    SIZE_PREFIX,
    SLOT_COMMAND_LEN,
    SLOT_PREFIX,
    START,
    UNITS,
    VERSION_PREFIX,
    ProtocolError,
    validate_id,
)


class IdRequested:
    """The gateway sent ``id pls``: answer with ``hello()``."""

    def __eq__(self, other):
        return type(other) is IdRequested

    def __repr__(self):
        return "IdRequested()"


class Started:
    """The gateway answered ``start``: the device is registered."""

    def __eq__(self, other):
        return type(other) is Started

    def __repr__(self):
        return "Started()"


class SendGranted:
    """The gateway answered ``send`` to a size declaration."""

    def __eq__(self, other):
        return type(other) is SendGranted

    def __repr__(self):
        return "SendGranted()"


class Command:
    """A command for the device: one of ``COMMANDS``, or a slot command (``ls07``)."""

    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return type(other) is Command and self.name == other.name

    def __repr__(self):
        return "Command(%r)" % self.name


_DEVICE_TOKENS = (START, SEND) + COMMANDS
_TOKEN_EVENTS = {START: Started, SEND: SendGranted}


class DeviceLink:
    """A device's end of the connection: parses what the gateway sends."""

    def __init__(self):
        self._buf = bytearray()
        self._header_done = False
        self._expect = 0
        self.registered = False

    def feed(self, data):
        """Consume bytes from the gateway and return the complete events."""
        self._buf += data
        # type comment, not annotation: the events differ and the boards have no typing module
        events = []  # type: list
        while self._buf:
            if not self._header_done:
                if len(self._buf) < HEADER_SIZE:
                    break
                try:
                    self._expect = int(bytes(self._buf[:HEADER_SIZE]).strip())
                except ValueError:
                    raise ProtocolError("bad header %r" % bytes(self._buf[:HEADER_SIZE])) from None
                if len(self._buf) < HEADER_SIZE + self._expect:
                    break
                message = bytes(self._buf[HEADER_SIZE : HEADER_SIZE + self._expect])
                # rebinding, not del: MicroPython's bytearray has no item deletion
                self._buf = self._buf[HEADER_SIZE + self._expect :]
                if message != ID_REQUEST:
                    raise ProtocolError("expected id pls, got %r" % message)
                self._header_done = True
                events.append(IdRequested())
                continue
            token = self._match_token()
            if token is None:
                break
            self._buf = self._buf[len(token) :]
            if token == START:
                self.registered = True
            cls = _TOKEN_EVENTS.get(token)
            events.append(cls() if cls else Command(token.decode()))
        return events

    def _match_token(self):
        head = bytes(self._buf[:5])
        if head[:2] == SLOT_PREFIX:
            return self._match_slot(head)
        partial = False
        for token in _DEVICE_TOKENS:
            if head[: len(token)] == token:
                return token
            if token[: len(head)] == head:
                partial = True
        if partial:
            return None
        raise ProtocolError("unexpected bytes from gateway %r" % head)

    def _match_slot(self, head):
        """``ls`` and two digits, or None while they are still arriving."""
        command = head[:SLOT_COMMAND_LEN]
        for b in command[2:]:
            if b not in DIGITS:
                raise ProtocolError("malformed slot command %r" % command)
        if len(command) < SLOT_COMMAND_LEN:
            return None
        return command


def hello(device_id, token=None, version=None):
    """The device's answer to ``id pls``; ``version`` is the firmware it runs."""
    validate_id(device_id.encode())
    message = HELLO_PREFIX + device_id.encode()
    if token:
        message += b"~" + token.encode()
    if version:
        message += b"~" + VERSION_PREFIX + version.encode()
    return message


def reading(value, unit):
    """A convention-2 reading, formatted as the original watch firmware does (two decimals)."""
    if unit.encode() not in UNITS:
        raise ValueError("unknown unit %r" % unit)
    return ("%.2f,%s" % (value, unit)).encode()


def size_declaration(size):
    """A convention-1 declaration for a payload of ``size`` bytes."""
    if size <= 0:
        raise ValueError("size must be positive")
    return SIZE_PREFIX + str(size).encode()
