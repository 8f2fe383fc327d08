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
COMMANDS = (b"bpm", b"img", b"lof", b"lon", b"inv")
MAX_COMMAND_LEN = 4

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
