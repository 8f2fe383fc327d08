"""The devices' wire protocol (docs/protocol.md) as pure code: bytes in, events out, no sockets.

The gateway's end lives here: ``GatewayLink`` is its view of one device
connection. The bytes both ends agree on are in ``wire`` and a device's end,
``DeviceLink``, is in ``device_link`` (the two modules that go onto the boards);
their names are re-exported here, so ``protocol`` is the whole protocol for the
services, the simulator and the tests. Nothing here reads a clock or a socket,
and no event depends on how the byte stream was chunked by TCP.

The protocol has no terminators, so three messages are delimited by
context instead:

* ``new~<id>[~<token>][~v=<version>]`` ends when the device falls silent waiting for
  ``start``. The caller tells the link so with ``end_of_hello()`` once the
  stream has been quiet briefly (the gateway uses a short settle timer).
* ``size-<N>`` ends at the first byte that is not a digit, i.e. the first
  payload byte. ``send`` is queued as soon as at least one digit has arrived and
  the input is drained: the device sent its whole declaration before waiting, so
  later digits still precede the payload. Payloads therefore must not start with
  an ASCII digit; base64 JPEG starts with ``/9j/`` and JSON with ``{``. A
  non-digit before ``send`` was queued means a malformed declaration.
* ``<value>,<unit>`` ends when the unit is one of the known units; no unit is a
  prefix of another, so a reading is recognised on its last byte.

It is written in the same plain style as the board modules it re-exports.
"""

from .device_link import (
    Command,
    DeviceLink,
    IdRequested,
    SendGranted,
    Started,
    hello,
    reading,
    size_declaration,
)
from .wire import (
    COMMANDS,
    DEFAULT_MAX_FRAME,
    DIGITS,
    HEADER_SIZE,
    HELLO_PREFIX,
    ID_CHARS,
    ID_REQUEST,
    ID_REQUEST_FRAME,
    MAX_COMMAND_LEN,
    MAX_ID_LEN,
    MAX_SIZE_DIGITS,
    MAX_SLOT,
    MAX_TOKEN_LEN,
    MAX_VALUE_LEN,
    MAX_VERSION_LEN,
    METRIC_UNITS,
    SEND,
    SIZE_PREFIX,
    SLOT_PREFIX,
    START,
    UNIT_MAX,
    UNITS,
    VALUE_CHARS,
    VERSION_PREFIX,
    ProtocolError,
    frame,
    is_command,
    slot_command,
    slot_of,
    validate_id,
)

__all__ = [
    "COMMANDS",
    "DEFAULT_MAX_FRAME",
    "HEADER_SIZE",
    "ID_REQUEST",
    "ID_REQUEST_FRAME",
    "MAX_COMMAND_LEN",
    "MAX_ID_LEN",
    "MAX_SIZE_DIGITS",
    "MAX_SLOT",
    "MAX_TOKEN_LEN",
    "MAX_VALUE_LEN",
    "MAX_VERSION_LEN",
    "METRIC_UNITS",
    "SEND",
    "SIZE_PREFIX",
    "SLOT_PREFIX",
    "START",
    "UNITS",
    "VERSION_PREFIX",
    "BadReading",
    "Command",
    "DeviceLink",
    "GatewayLink",
    "Hello",
    "IdRequested",
    "Payload",
    "ProtocolError",
    "Reading",
    "SendGranted",
    "SizeDeclared",
    "Started",
    "frame",
    "hello",
    "is_command",
    "reading",
    "size_declaration",
    "slot_command",
    "slot_of",
    "validate_id",
]

# gateway-side states
AWAIT_HELLO = "await_hello"
READY = "ready"
SIZE_DIGITS = "size_digits"
PAYLOAD = "payload"
CLOSED = "closed"


def _parse_value(raw):
    try:
        value = float(raw.decode())
    except (ValueError, UnicodeError):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def _checked(raw, limit, what):
    if not raw or len(raw) > limit:
        raise ProtocolError("hello %s is empty or too long" % what)
    for b in raw:
        if b not in ID_CHARS:
            raise ProtocolError("hello %s has a forbidden byte 0x%02x" % (what, b))
    return raw.decode()


class Hello:
    """A device asked to register: ``new~<id>[~<token>]``, perhaps with ``~v=<version>``."""

    def __init__(self, device_id, token, version=None):
        self.device_id = device_id
        self.token = token
        self.version = version

    def __eq__(self, other):
        return type(other) is Hello and (self.device_id, self.token, self.version) == (
            other.device_id,
            other.token,
            other.version,
        )

    def __repr__(self):
        return "Hello(%r)" % self.device_id


class Reading:
    """A convention-2 reading such as ``72.00,bpm``."""

    def __init__(self, unit, value, raw):
        self.unit = unit
        self.metric, self.display_unit = UNITS[unit.encode()]
        self.value = value
        self.raw = raw

    def __eq__(self, other):
        return type(other) is Reading and (self.unit, self.value) == (other.unit, other.value)

    def __repr__(self):
        return "Reading(%r, %r)" % (self.unit, self.value)


class BadReading:
    """A well-framed reading whose value is not a finite number (``nan,bpm``)."""

    def __init__(self, unit, raw):
        self.unit = unit
        self.raw = raw

    def __eq__(self, other):
        return type(other) is BadReading and self.raw == other.raw

    def __repr__(self):
        return "BadReading(%r)" % self.raw


class SizeDeclared:
    """A convention-1 declaration is complete: N payload bytes follow."""

    def __init__(self, size):
        self.size = size

    def __eq__(self, other):
        return type(other) is SizeDeclared and self.size == other.size

    def __repr__(self):
        return "SizeDeclared(%d)" % self.size


class Payload:
    """The N bytes announced by the preceding ``size-N``."""

    def __init__(self, data):
        self.data = data

    def __eq__(self, other):
        return type(other) is Payload and self.data == other.data

    def __repr__(self):
        return "Payload(%d bytes)" % len(self.data)


class GatewayLink:
    """The gateway's end of one device connection.

    Call ``greeting()`` once on accept, then ``feed()`` with whatever arrived.
    After a ``Hello`` event, ``accept()`` queues ``start``. Bytes for the device
    are collected with ``data_to_send()``.
    """

    def __init__(self, max_frame=DEFAULT_MAX_FRAME):
        self.max_frame = max_frame
        self.state = AWAIT_HELLO
        self._buf = bytearray()
        self._out = bytearray()
        self._size = 0
        self._send_queued = False
        self._hello_id = None
        self._payload = None

    def greeting(self):
        """The ``id pls`` request, header-prefixed as the original firmware expects."""
        self._out += ID_REQUEST_FRAME
        return self.data_to_send()

    def data_to_send(self):
        out = bytes(self._out)
        self._out = bytearray()
        return out

    @property
    def hello_pending(self):
        """True while a hello has started and waits for ``end_of_hello()``."""
        return self.state == AWAIT_HELLO and len(self._buf) > 0

    @property
    def mid_transfer(self):
        """True while a size declaration or its payload is incomplete."""
        return self.state in (SIZE_DIGITS, PAYLOAD) or (self.state == READY and len(self._buf) > 0)

    def feed(self, data):
        """Consume bytes from the device and return the complete events."""
        if self.state == CLOSED:
            raise ProtocolError("connection already closed")
        events = []
        if self._hello_id is not None:
            raise ProtocolError("data before start was sent")
        if self.state == AWAIT_HELLO:
            self._buf += data
            self._check_hello_prefix()
            return events
        if self.state == SIZE_DIGITS and self._buf and data and data[0] not in DIGITS:
            # The declaration ends where this chunk starts: settle it from the buffer
            # alone, so that a payload that arrives whole is never copied into it.
            self._end_size(len(self._buf), events)
        if self.state == PAYLOAD and not self._buf and len(data) >= self._size:
            size = self._size
            self._end_payload(bytes(data if len(data) == size else data[:size]), events)
            data = data[size:]
        self._buf += data
        self._parse(events)
        if self.state == SIZE_DIGITS and not self._send_queued and self._buf:
            self._out += SEND
            self._send_queued = True
        return events

    def end_of_hello(self):
        """The device fell silent after its hello: return the ``Hello`` event."""
        if self.state != AWAIT_HELLO or not self._buf:
            raise ProtocolError("no hello received")
        raw = bytes(self._buf)
        self._check_hello_prefix()
        if len(raw) <= len(HELLO_PREFIX):
            raise ProtocolError("hello without a device id")
        parts = raw[len(HELLO_PREFIX) :].split(b"~")
        version = None
        if len(parts) > 1 and parts[-1][: len(VERSION_PREFIX)] == VERSION_PREFIX:
            # "=" is no token byte, so a last part "v=..." is the firmware version
            version = _checked(parts.pop()[len(VERSION_PREFIX) :], MAX_VERSION_LEN, "version")
        if len(parts) > 2:
            raise ProtocolError("hello has more than one token")
        device_id = validate_id(parts[0])
        token = _checked(parts[1], MAX_TOKEN_LEN, "token") if len(parts) == 2 else None
        self._buf = bytearray()
        self._hello_id = device_id
        return Hello(device_id, token, version)

    def accept(self):
        """Register the device: queue ``start`` and begin reading messages."""
        if self._hello_id is None:
            raise ProtocolError("accept() without a hello")
        self._hello_id = None
        self.state = READY
        self._out += START
        return self.data_to_send()

    def close(self):
        self.state = CLOSED

    def _check_hello_prefix(self):
        n = min(len(self._buf), len(HELLO_PREFIX))
        if bytes(self._buf[:n]) != HELLO_PREFIX[:n]:
            raise ProtocolError("expected new~<id>, got %r" % bytes(self._buf[:16]))
        longest = len(HELLO_PREFIX) + MAX_ID_LEN + 1 + MAX_TOKEN_LEN + 3 + MAX_VERSION_LEN
        if len(self._buf) > longest:
            raise ProtocolError("hello longer than any valid id, token and version")

    def _parse(self, events):
        while True:
            if self.state == READY:
                if not self._parse_ready(events):
                    return
            elif self.state == SIZE_DIGITS:
                if not self._parse_size(events):
                    return
            elif self.state == PAYLOAD:
                if not self._parse_payload(events):
                    return
            else:
                return

    def _parse_ready(self, events):
        buf = self._buf
        if not buf:
            return False
        first = buf[0]
        if first == SIZE_PREFIX[0]:
            n = min(len(buf), len(SIZE_PREFIX))
            if bytes(buf[:n]) != SIZE_PREFIX[:n]:
                raise ProtocolError("unexpected message %r" % bytes(buf[:16]))
            if len(buf) < len(SIZE_PREFIX):
                return False
            buf[: len(SIZE_PREFIX)] = b""  # MicroPython's bytearray has no del of a slice
            self.state = SIZE_DIGITS
            self._send_queued = False
            return True
        if first not in VALUE_CHARS:
            raise ProtocolError("unexpected message %r" % bytes(buf[:16]))
        comma = buf.find(b",")
        if comma < 0:
            if len(buf) > MAX_VALUE_LEN:
                raise ProtocolError("reading value longer than %d bytes" % MAX_VALUE_LEN)
            for b in buf:
                if b not in VALUE_CHARS:
                    raise ProtocolError("malformed reading %r" % bytes(buf[:16]))
            return False
        if comma == 0 or comma > MAX_VALUE_LEN:
            raise ProtocolError("malformed reading %r" % bytes(buf[:16]))
        for b in buf[:comma]:
            if b not in VALUE_CHARS:
                raise ProtocolError("malformed reading %r" % bytes(buf[:16]))
        tail = bytes(buf[comma + 1 : comma + 1 + UNIT_MAX])
        for unit in UNITS:
            if tail[: len(unit)] == unit:
                raw = bytes(buf[: comma + 1 + len(unit)])
                buf[: len(raw)] = b""
                value = _parse_value(raw[:comma])
                if value is None:
                    events.append(BadReading(unit.decode(), raw))
                else:
                    events.append(Reading(unit.decode(), value, raw))
                return True
        for unit in UNITS:
            if unit[: len(tail)] == tail:
                return False  # a known unit may still complete
        raise ProtocolError("unknown unit in %r" % bytes(buf[: comma + 1 + UNIT_MAX]))

    def _parse_size(self, events):
        buf = self._buf
        i = 0
        while i < len(buf) and buf[i] in DIGITS:
            i += 1
        if i > MAX_SIZE_DIGITS:
            raise ProtocolError("size declaration has too many digits")
        if i and int(bytes(buf[:i])) > self.max_frame:
            raise ProtocolError(
                "declared size %d exceeds the limit of %d bytes"
                % (int(bytes(buf[:i])), self.max_frame)
            )
        if i == len(buf):
            return False  # more digits may follow
        if i == 0:
            raise ProtocolError("malformed size declaration %r" % bytes(buf[:16]))
        self._end_size(i, events)
        return True

    def _end_size(self, i, events):
        """The declaration's digits are ``_buf[:i]`` and a payload byte follows them."""
        buf = self._buf
        size = int(bytes(buf[:i]))
        if size == 0:
            raise ProtocolError("size declaration of zero bytes")
        if not self._send_queued:
            # A conforming device waits for send, so a non-digit can only follow
            # the digits in the same burst if the declaration itself is malformed.
            raise ProtocolError("malformed size declaration %r" % bytes(buf[: i + 8]))
        buf[:i] = b""
        self._size = size
        self.state = PAYLOAD
        events.append(SizeDeclared(size))

    def _parse_payload(self, events):
        size = self._size
        if len(self._buf) < size:
            return False
        if len(self._buf) == size:
            data, self._buf = bytes(self._buf), bytearray()
        else:
            data = bytes(self._buf[:size])
            self._buf[:size] = b""
        self._end_payload(data, events)
        return True

    def _end_payload(self, data, events):
        self.state = READY
        self._send_queued = False
        events.append(Payload(data))
