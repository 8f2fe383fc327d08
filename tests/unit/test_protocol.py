"""The device protocol as pure code: every re-chunking of a stream gives the same events."""

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import protocol as p


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``data`` at the sorted, de-duplicated cut points."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for point in [*points, len(data)]:
        if point > last:
            pieces.append(data[last:point])
            last = point
    return pieces


def run_session(turns: list[bytes], cuts: list[int], max_frame=p.DEFAULT_MAX_FRAME):
    """Play a device's turns into a GatewayLink; return (events, bytes sent to the device).

    A turn is what the device writes before it waits for the gateway (the original
    firmware never sends its payload before ``send``), so chunks never span turns.
    The first turn is the hello.
    """
    link = p.GatewayLink(max_frame)
    out = link.greeting()
    events = []
    for piece in chunked(turns[0], cuts):
        link.feed(piece)
    events.append(link.end_of_hello())
    out += link.accept()
    for turn in turns[1:]:
        for piece in chunked(turn, cuts):
            events.extend(link.feed(piece))
            out += link.data_to_send()
    return events, out


JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
IMAGE_B64 = base64.b64encode(JPEG)
INVENTORY = json.dumps({"Nutella": 0, "Pepsi": 1, "Pringles": 0}).encode()

WATCH_TURNS = [b"new~wch", b"72.00,bpm36.60,temp", b"98.00,spo2", b"120.00,sys80.00,dia"]
CAMERA_TURNS = [b"new~img~s3cr3t", b"size-%d" % len(IMAGE_B64), IMAGE_B64]
CABINET_TURNS = [b"new~cab", b"size-%d" % len(INVENTORY), INVENTORY]


def test_header_is_the_seeds_padded_length():
    assert p.ID_REQUEST_FRAME == b"6         id pls"
    assert p.frame(b"x" * 12) == b"12        " + b"x" * 12


def test_watch_session_events():
    events, out = run_session(WATCH_TURNS, [])
    assert events == [
        p.Hello("wch", None),
        p.Reading("bpm", 72.0, b""),
        p.Reading("temp", 36.6, b""),
        p.Reading("spo2", 98.0, b""),
        p.Reading("sys", 120.0, b""),
        p.Reading("dia", 80.0, b""),
    ]
    assert [e.metric for e in events[1:]] == [
        "heart_rate",
        "temperature",
        "spo2",
        "bp_systolic",
        "bp_diastolic",
    ]
    assert out == b"6         id plsstart"


def test_camera_session_with_token():
    events, out = run_session(CAMERA_TURNS, [])
    assert events == [
        p.Hello("img", "s3cr3t"),
        p.SizeDeclared(len(IMAGE_B64)),
        p.Payload(IMAGE_B64),
    ]
    assert out == b"6         id plsstartsend"


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
@pytest.mark.parametrize("turns", [WATCH_TURNS, CAMERA_TURNS, CABINET_TURNS])
def test_every_rechunking_gives_the_same_events_and_replies(turns, cuts):
    expected = run_session(turns, [])
    assert run_session(turns, cuts) == expected


def test_every_single_split_point_of_a_watch_stream():
    stream = b"72.00,bpm36.60,temp98.00,spo2-1.50,temp"
    whole, _ = run_session([b"new~wch", stream], [])
    for cut in range(len(stream) + 1):
        events, _ = run_session([b"new~wch", stream[:cut], stream[cut:]], [])
        assert events == whole, cut


def test_payload_sent_without_waiting_for_send_is_malformed():
    link = ready_link()
    with pytest.raises(p.ProtocolError, match="malformed size declaration"):
        link.feed(b"size-%d" % len(INVENTORY) + INVENTORY)


def test_late_digits_may_arrive_with_the_payload_after_send():
    link = ready_link()
    assert link.feed(b"size-1") == []
    assert link.data_to_send() == b"send"
    assert link.feed(b"2{" + b"x" * 11) == [p.SizeDeclared(12), p.Payload(b"{" + b"x" * 11)]


def test_a_payload_read_whole_may_carry_the_next_message_behind_it():
    link = ready_link()
    assert link.feed(b"size-12") == []
    assert link.data_to_send() == b"send"
    payload = b"{" + b"x" * 11
    assert link.feed(payload + b"72.00,bpm36") == [
        p.SizeDeclared(12),
        p.Payload(payload),
        p.Reading("bpm", 72.0, b""),
    ]
    assert link.mid_transfer
    assert link.feed(b".60,temp") == [p.Reading("temp", 36.6, b"")]
    assert not link.mid_transfer


def test_send_is_queued_once_per_declaration_even_when_digits_trickle():
    link = p.GatewayLink()
    link.greeting()
    link.feed(b"new~img")
    link.end_of_hello()
    link.accept()
    sent = b""
    for piece in (b"s", b"ize-", b"1", b"2"):
        link.feed(piece)
        sent += link.data_to_send()
    assert sent == b"send"
    assert link.feed(b"{" + b"x" * 11) == [p.SizeDeclared(12), p.Payload(b"{" + b"x" * 11)]


def ready_link(max_frame=p.DEFAULT_MAX_FRAME) -> p.GatewayLink:
    link = p.GatewayLink(max_frame)
    link.greeting()
    link.feed(b"new~wch")
    link.end_of_hello()
    link.accept()
    return link


@pytest.mark.parametrize(
    "junk, reason",
    [
        (b"size-999999999", "exceeds the limit"),
        (b"size-12345678901", "too many digits"),
        (b"size-x", "malformed size"),
        (b"size-0{", "zero bytes"),
        (b"size-12a", "malformed size"),
        (b"sizz", "unexpected message"),
        (b"hello", "unexpected message"),
        (b"72.00;bpm", "malformed reading"),
        (b"72.00,bpx", "unknown unit"),
        (b"1" * 40, "longer than"),
        (b"\x00\xff", "unexpected message"),
    ],
)
def test_malformed_messages_raise_protocol_error(junk, reason):
    link = ready_link()
    with pytest.raises(p.ProtocolError, match=reason):
        link.feed(junk)


def test_declared_size_limit_is_configurable():
    with pytest.raises(p.ProtocolError, match="exceeds the limit of 100"):
        ready_link(max_frame=100).feed(b"size-101")
    assert ready_link(max_frame=100).feed(b"size-100") == []


@pytest.mark.parametrize(
    "hello, reason",
    [
        (b"new~", "without a device id"),
        (b"new~wc/h", "forbidden byte 0x2f"),
        (b"new~wc+h", "forbidden byte 0x2b"),
        (b"new~wc#h", "forbidden byte 0x23"),
        ("new~wçh".encode(), "forbidden byte 0xc3"),
        (b"new~wch~", "token is empty"),
        (b"new~a~b~c", "more than one token"),
        (b"new~" + b"w" * 33, "longer than 32"),
    ],
)
def test_bad_hellos_are_refused(hello, reason):
    link = p.GatewayLink()
    link.greeting()
    link.feed(hello)
    with pytest.raises(p.ProtocolError, match=reason):
        link.end_of_hello()


def test_junk_before_the_handshake_is_refused_at_once():
    link = p.GatewayLink()
    link.greeting()
    with pytest.raises(p.ProtocolError, match="expected new~"):
        link.feed(b"GET / HTTP/1.1\r\n")


def test_not_a_number_is_a_bad_reading_not_a_broken_stream():
    link = ready_link()
    events = link.feed(b"nan,bpm72.00,bpm")
    assert events == [p.BadReading("bpm", b"nan,bpm"), p.Reading("bpm", 72.0, b"")]


@settings(max_examples=2000, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoder(data):
    link = ready_link(max_frame=1000)
    try:
        for event in link.feed(data):
            assert isinstance(event, p.Reading | p.BadReading | p.SizeDeclared | p.Payload)
    except p.ProtocolError as exc:
        assert exc.reason


def test_device_link_parses_gateway_bytes_in_any_chunking():
    stream = p.ID_REQUEST_FRAME + b"start" + b"bpmsendimglofloninv"
    expected = [
        p.IdRequested(),
        p.Started(),
        p.Command("bpm"),
        p.SendGranted(),
        p.Command("img"),
        p.Command("lof"),
        p.Command("lon"),
        p.Command("inv"),
    ]
    for cut in range(len(stream) + 1):
        link = p.DeviceLink()
        events = link.feed(stream[:cut]) + link.feed(stream[cut:])
        assert events == expected, cut
        assert link.registered


def test_device_link_parses_slot_commands_in_any_chunking():
    stream = p.ID_REQUEST_FRAME + b"start" + b"ls00lofls07lonls99inv"
    expected = [p.IdRequested(), p.Started()] + [
        p.Command(c) for c in ("ls00", "lof", "ls07", "lon", "ls99", "inv")
    ]
    for cut in range(len(stream) + 1):
        link = p.DeviceLink()
        assert link.feed(stream[:cut]) + link.feed(stream[cut:]) == expected, cut


def test_slot_commands_are_four_bytes_the_prototype_never_mistakes():
    assert [p.slot_command(n) for n in (0, 7, 99)] == [b"ls00", b"ls07", b"ls99"]
    assert [p.slot_of(c) for c in (b"ls00", b"ls42", b"ls4", b"ls4x", b"lsa0", b"lon")] == [
        0,
        42,
        None,
        None,
        None,
        None,
    ]
    for slot in range(p.MAX_SLOT + 1):
        command = p.slot_command(slot)
        assert len(command) <= p.MAX_COMMAND_LEN and command not in p.COMMANDS
        # the prototype's loops look for these words with `in`
        assert not any(word in command for word in (b"id", b"start", b"send"))
        assert p.is_command(command)
    with pytest.raises(ValueError):
        p.slot_command(100)
    assert not p.is_command(b"ls1") and not p.is_command(b"xyz")
    for junk in (b"lsx1", b"ls1-"):
        link = p.DeviceLink()
        link.feed(p.ID_REQUEST_FRAME + b"start")
        with pytest.raises(p.ProtocolError, match="malformed slot command"):
            link.feed(junk)


def test_device_link_refuses_junk():
    link = p.DeviceLink()
    link.feed(p.ID_REQUEST_FRAME)
    with pytest.raises(p.ProtocolError):
        link.feed(b"xyz")


def test_device_helpers_round_trip_through_the_gateway_link():
    link = ready_link()
    events = link.feed(p.reading(72, "bpm") + p.reading(36.6, "temp"))
    assert [(e.metric, e.value) for e in events] == [("heart_rate", 72.0), ("temperature", 36.6)]
    assert p.hello("cab", "tok") == b"new~cab~tok"
    assert p.size_declaration(12) == b"size-12"
    with pytest.raises(ValueError):
        p.reading(1, "furlongs")
