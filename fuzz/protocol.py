"""Fuzz both ends of the device protocol: any bytes, any chunking, no crash and no hang.

``python -m fuzz.protocol -runs=1000000`` (libFuzzer flags). The only exception the
decoders may raise is ``ProtocolError``; anything else, or a hang, is a finding.
"""

import sys

import atheris

with atheris.instrument_imports():
    from services.common import protocol as p


def gateway_session(fdp: atheris.FuzzedDataProvider) -> None:
    """Play fuzzed chunks into a gateway link, through hello, accept and messages."""
    link = p.GatewayLink(max_frame=fdp.ConsumeIntInRange(1, 4096))
    link.greeting()
    try:
        link.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 48)))
        if not link.hello_pending:
            return
        link.end_of_hello()
        link.accept()
        while fdp.remaining_bytes():
            events = link.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64)))
            link.data_to_send()
            for event in events:
                assert isinstance(event, p.Reading | p.BadReading | p.SizeDeclared | p.Payload)
    except p.ProtocolError as exc:
        assert exc.reason


def device_session(fdp: atheris.FuzzedDataProvider) -> None:
    """Play fuzzed gateway bytes into a device link."""
    link = p.DeviceLink()
    try:
        while fdp.remaining_bytes():
            link.feed(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 32)))
    except p.ProtocolError as exc:
        assert exc.reason


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        gateway_session(fdp)
    else:
        device_session(fdp)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
