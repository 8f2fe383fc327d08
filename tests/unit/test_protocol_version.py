"""The hello's firmware-version suffix and the ``upd`` command, beside the prototype's forms."""

import pytest

from services.common import protocol as p


def hello_of(raw: bytes) -> p.Hello:
    link = p.GatewayLink()
    link.greeting()
    link.feed(raw)
    return link.end_of_hello()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"new~wch", p.Hello("wch", None)),
        (b"new~wch-01~t0k", p.Hello("wch-01", "t0k")),
        (b"new~wch~v=1.2.0", p.Hello("wch", None, "1.2.0")),
        (b"new~wch-01~t0k~v=1.2.0-rc_1", p.Hello("wch-01", "t0k", "1.2.0-rc_1")),
    ],
)
def test_the_version_is_read_beside_the_prototypes_forms(raw, expected):
    assert hello_of(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"new~wch~v=",
        b"new~wch~t~v=1~x",
        b"new~wch~v=1 2",
        b"new~wch~v=" + b"1" * 33,
        b"new~wch~a~b",
    ],
)
def test_bad_versions_are_refused(raw):
    with pytest.raises(p.ProtocolError):
        hello_of(raw)


def test_the_device_sends_what_the_gateway_reads():
    assert p.hello("cab", "t0k", "2.0.0") == b"new~cab~t0k~v=2.0.0"
    assert p.hello("cab") == b"new~cab"
    assert hello_of(p.hello("cab", None, "2.0.0")) == p.Hello("cab", None, "2.0.0")


def test_upd_reaches_the_device_as_a_command():
    link = p.DeviceLink()
    assert link.feed(p.ID_REQUEST_FRAME + p.START + b"upd") == [
        p.IdRequested(),
        p.Started(),
        p.Command("upd"),
    ]
    assert len(b"upd") <= p.MAX_COMMAND_LEN
