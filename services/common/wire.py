"""The devices' wire protocol (docs/protocol.md): the bytes both ends agree on.

Framing, the tokens, the units a reading may carry and the rule for device ids,
shared by the gateway's end (``protocol.GatewayLink``) and the devices' end
(``device_link.DeviceLink``). This module and ``device_link`` are also copied
onto the ESP32 boards, so they keep to what MicroPython runs: no dataclasses,
no typing, no f-strings.
"""

HEADER_SIZE = 10
ID_REQUEST = b"id pls"
HELLO_PREFIX = b"new~"
START = b"start"
SEND = b"send"
SIZE_PREFIX = b"size-"
COMMANDS = (b"bpm", b"img", b"lof", b"lon", b"inv", b"upd")
MAX_COMMAND_LEN = 4
# The slot command, for boards on this project's firmware: "ls" and two digits lights
# the LEDs of one slot (the cabinet's 00th to 99th item) until "lof". Four bytes that
# equal none of the prototype's commands and hold none of the words its loops look for
# ("id", "start", "send"), so the prototype's firmware, comparing each recv() with
# b"lof" and so on, passes it by.
SLOT_PREFIX = b"ls"
SLOT_COMMAND_LEN = 4
MAX_SLOT = 99

# unit on the wire -> (metric name on MQTT, unit shown to people)
UNITS = {
    b"bpm": ("heart_rate", "bpm"),
    b"temp": ("temperature", "°C"),
    b"spo2": ("spo2", "%"),
    b"sys": ("bp_systolic", "mmHg"),
    b"dia": ("bp_diastolic", "mmHg"),
}
METRIC_UNITS = {metric: unit for metric, unit in UNITS.values()}

DEFAULT_MAX_FRAME = 256 * 1024
MAX_ID_LEN = 32
MAX_TOKEN_LEN = 128
MAX_VALUE_LEN = 24
MAX_VERSION_LEN = 32
# a hello's last part "v=<version>" is the firmware version: "=" is no token byte
VERSION_PREFIX = b"v="
MAX_SIZE_DIGITS = 10

DIGITS = b"0123456789"
VALUE_CHARS = b"0123456789.+-eEnaif"
ID_CHARS = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
UNIT_MAX = 4


class ProtocolError(Exception):
    """The peer broke the protocol; the connection must be closed."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def slot_command(slot):
    """The command that lights slot ``slot`` (0 to 99): ``ls07``."""
    if not 0 <= slot <= MAX_SLOT:
        raise ValueError("slot must be 0 to %d" % MAX_SLOT)
    return SLOT_PREFIX + ("%02d" % slot).encode()


def slot_of(command):
    """The slot a slot command (bytes) lights, or None if it is not one."""
    if len(command) != SLOT_COMMAND_LEN or command[:2] != SLOT_PREFIX:
        return None
    digits = command[2:]
    for b in digits:
        if b not in DIGITS:
            return None
    return int(bytes(digits).decode())


def is_command(command):
    """Whether ``command`` (bytes) is one the gateway may write to a device."""
    return command in COMMANDS or slot_of(command) is not None


def frame(message):
    """Prefix ``message`` with the protocol's 10-byte, left-justified decimal length."""
    header = str(len(message)).encode()
    if len(header) > HEADER_SIZE:
        raise ValueError("message too long for the header")
    return header + b" " * (HEADER_SIZE - len(header)) + message


ID_REQUEST_FRAME = frame(ID_REQUEST)


def validate_id(raw):
    """Return ``raw`` (bytes) as a str id, or raise ProtocolError."""
    if not raw:
        raise ProtocolError("empty device id")
    if len(raw) > MAX_ID_LEN:
        raise ProtocolError("device id longer than %d bytes" % MAX_ID_LEN)
    for b in raw:
        if b not in ID_CHARS:
            raise ProtocolError("device id has a forbidden byte 0x%02x" % b)
    return raw.decode()
