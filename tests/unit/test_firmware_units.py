"""Pure tests of the board code: drivers' maths, the sans-IO session, backoff, debounce."""

import base64
import itertools
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.sim import hardware
from firmware.smartcab import board, cabinet, camera, client, max30102, mlx90614, watch
from services.common import protocol as p

# --- MLX90614 --------------------------------------------------------------


def test_pec_matches_the_datasheet_example():
    # MLX90614 datasheet: SA 0x5A reads RAM 0x07 as 0x3AD2 with PEC 0x30
    assert mlx90614.crc8((0xB4, 0x07, 0xB5, 0xD2, 0x3A)) == 0x30
    assert mlx90614.frame_ok(0x5A, 0x07, bytes((0xD2, 0x3A, 0x30)))
    assert not mlx90614.frame_ok(0x5A, 0x07, bytes((0xD2, 0x3A, 0x31)))


def test_raw_to_celsius():
    assert mlx90614.raw_to_celsius(0x3AD2) == pytest.approx(28.01)
    assert mlx90614.raw_to_celsius(0x3C40) == pytest.approx(35.33, abs=0.01)
    with pytest.raises(ValueError):
        mlx90614.raw_to_celsius(0x8000 | 0x3AD2)


@given(st.floats(min_value=-40, max_value=120))
def test_celsius_raw_round_trip(celsius):
    assert mlx90614.raw_to_celsius(mlx90614.celsius_to_raw(celsius)) == pytest.approx(
        celsius, abs=0.011
    )


class FlakyBus:
    """Returns a corrupted PEC first, as a noisy SMBus line does."""

    def __init__(self, good: bytes, bad_reads: int):
        self.good, self.bad_reads = good, bad_reads

    def readfrom_mem(self, addr, reg, n):
        if self.bad_reads:
            self.bad_reads -= 1
            return self.good[:2] + bytes(((self.good[2] + 1) & 0xFF,))
        return self.good


def test_driver_retries_a_bad_pec_then_gives_up():
    good = bytes((0xD2, 0x3A, 0x30))
    assert mlx90614.MLX90614(FlakyBus(good, 2)).object_temp() == pytest.approx(28.01)
    with pytest.raises(OSError):
        mlx90614.MLX90614(FlakyBus(good, 3)).object_temp()


# --- MAX30102 --------------------------------------------------------------


@given(st.lists(st.tuples(st.integers(0, 0x3FFFF), st.integers(0, 0x3FFFF)), max_size=32))
def test_fifo_decoding(samples):
    data = b"".join(r.to_bytes(3, "big") + i.to_bytes(3, "big") for r, i in samples)
    red, ir = max30102.decode_fifo(data)
    assert list(zip(red, ir, strict=True)) == samples


def test_fifo_decoding_masks_to_18_bits():
    assert max30102.decode_fifo(b"\xff\xff\xff\xfc\x00\x01") == ([0x3FFFF], [1])


def synthetic(hr, spo2, rate, seconds, seed=0, motion=0.0, finger_gap=None):
    """(red, IR) samples of a pulse like a MAX30102's, with optional jolts and a lifted finger."""
    body = hardware.Body(random.Random(seed), 0.0, 0.0)
    body.spo2 = spo2
    r = body.ratio()
    rng = random.Random(seed)
    phase, out, jolt, size = rng.random(), [], 0, 0.0
    length = int(rate * 0.4)
    for k in range(int(rate * seconds)):
        phase = (phase + hr / 60.0 / rate) % 1.0
        pulse = hardware.pulse_shape(phase)
        ir = 120000 * (1 - 0.015 * pulse) + rng.gauss(0, 25)
        red = 90000 * (1 - 0.015 * r * pulse) + rng.gauss(0, 25)
        if jolt <= 0 and rng.random() < motion / rate:
            jolt, size = length, rng.uniform(-0.05, 0.05)
        if jolt > 0:
            jolt -= 1
            factor = 1 + hardware.motion_shape(jolt, length, size)
            ir, red = ir * factor, red * factor
        if finger_gap and finger_gap[0] <= k / rate < finger_gap[1]:
            ir, red = 1500, 1200
        out.append((int(red), int(ir)))
    return out


def measure(samples, rate, seconds):
    meter = max30102.PulseMeter(rate, seconds)
    for red, ir in samples:
        meter.add(red, ir)
    assert meter.done
    return meter.result()


@settings(max_examples=40, deadline=None)
@given(
    hr=st.floats(min_value=45, max_value=180),
    spo2=st.floats(min_value=90, max_value=99.5),
    rate=st.sampled_from([25, 50, 100]),
    seed=st.integers(0, 1000),
)
def test_heart_rate_and_spo2_from_a_15_s_window(hr, spo2, rate, seed):
    bpm, measured_spo2 = measure(synthetic(hr, spo2, rate, 15, seed), rate, 15)
    # at 25 samples/s a 180 bpm beat is 8 samples long: interpolation keeps it within 3 bpm
    assert bpm == pytest.approx(hr, abs=3)
    assert measured_spo2 == pytest.approx(spo2, abs=2)


def test_motion_artefacts_are_rejected_or_shrugged_off():
    results = [measure(synthetic(75, 97, 25, 15, seed, motion=0.3), 25, 15) for seed in range(20)]
    readings = [r for r in results if r is not None]
    # a window ruined by motion gives no reading rather than a wrong one
    assert len(readings) >= 17
    for bpm, spo2 in readings:
        assert bpm == pytest.approx(75, abs=3)
        assert spo2 == pytest.approx(97, abs=2)


def test_finger_off_gives_no_reading():
    off = [(1200, 1500)] * 25 * 15
    assert measure(off, 25, 15) is None
    # lifted for a third of the window: still no reading
    assert measure(synthetic(70, 97, 25, 15, finger_gap=(5, 10)), 25, 15) is None
    # a short lift is tolerated
    bpm, _ = measure(synthetic(70, 97, 25, 15, finger_gap=(5, 6)), 25, 15)
    assert bpm == pytest.approx(70, abs=3)


def test_flat_signal_has_no_pulse():
    assert measure([(90000, 120000)] * 25 * 15, 25, 15) is None


def test_spo2_curve():
    assert max30102.spo2_from_ratio(0.5) == pytest.approx(98.76, abs=0.01)
    assert max30102.spo2_from_ratio(1.0) == pytest.approx(80.14, abs=0.01)
    assert max30102.spo2_from_ratio(0.3) == 100.0
    assert max30102.spo2_from_ratio(2.0) is None
    values = [max30102.spo2_from_ratio(0.34 + i / 100) for i in range(100)]
    assert values == sorted(values, reverse=True)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_driver_drains_the_fake_chip_fifo_and_survives_overflow():
    clock = Clock()
    body = hardware.Body(random.Random(2), 0.0, 0.0)
    body.forced = True
    i2c = hardware.watch_i2c(body, clock)
    chip = max30102.MAX30102(i2c)
    chip.check()
    chip.start()
    assert chip.rate == 25
    clock.t += 0.4
    red, ir = chip.read()
    assert len(ir) == 10 and all(v > max30102.FINGER_MIN_IR for v in ir)
    clock.t += 5.0  # 125 samples: the 32-deep FIFO rolled over
    red, ir = chip.read()
    assert len(red) == len(ir) == max30102.FIFO_DEPTH
    assert chip.read() == ([], [])
    chip.shutdown()
    clock.t += 1.0
    assert chip.read() == ([], [])


def test_missing_chip_is_an_oserror():
    with pytest.raises(OSError):
        max30102.MAX30102(hardware.FakeI2C({})).check()


# --- the session ---------------------------------------------------------------


class Recorder:
    """An app that records what the session tells it."""

    def __init__(self):
        self.events = []

    def on_start(self, session, now):
        self.events.append("start")

    def on_command(self, session, name, now):
        self.events.append(name)


def drain(session):
    out = []
    chunk = session.next_chunk()
    while chunk is not None:
        out.append(chunk)
        chunk = session.next_chunk()
    return out


GATEWAY_BYTES = p.ID_REQUEST_FRAME + b"start" + b"bpm" + b"lof" + b"inv"


@given(st.lists(st.integers(0, len(GATEWAY_BYTES)), max_size=8))
def test_session_events_do_not_depend_on_recv_boundaries(cuts):
    app = Recorder()
    session = client.Session(app, "wch-01", "tok")
    points = [*sorted(set(cuts)), len(GATEWAY_BYTES)]
    last, writes = 0, []
    for point in points:
        session.feed(GATEWAY_BYTES[last:point], 0)
        writes += drain(session)
        last = point
    assert writes == [b"new~wch-01~tok"]  # the hello is one write
    assert app.events == ["start", "bpm", "lof", "inv"]


def test_nothing_is_sent_before_start():
    session = client.Session(Recorder(), "wch")
    assert not session.send_reading(72, "bpm")
    assert not session.send_sized(3, (b"{ }",))
    session.feed(p.ID_REQUEST_FRAME, 0)
    assert drain(session) == [b"new~wch"]


def started(app=None, device_id="cab"):
    session = client.Session(app or Recorder(), device_id)
    session.feed(p.ID_REQUEST_FRAME, 0)
    drain(session)
    session.feed(b"start", 0)
    return session


def test_sized_transfer_waits_for_send_and_keeps_order():
    session = started()
    session.send_reading(72.456, "bpm")
    session.send_sized(7, iter([b"{", b"", b'"a":', b"1}"]))
    session.send_reading(36.6, "temp")
    assert drain(session) == [b"72.46,bpm", b"size-7"]
    assert session.transfer_pending
    session.feed(b"send", 0)
    assert drain(session) == [b"{", b'"a":', b"1}", b"36.60,temp"]
    assert not session.transfer_pending


def test_a_transfer_that_does_not_match_its_size_is_a_protocol_error():
    session = started()
    session.send_sized(5, (b"{}",))
    drain(session)
    session.feed(b"send", 0)
    with pytest.raises(p.ProtocolError):
        drain(session)
    session = started()
    session.send_sized(1, (b"{}",))
    drain(session)
    session.feed(b"send", 0)
    with pytest.raises(p.ProtocolError):
        drain(session)


def test_unrequested_send_and_junk_are_protocol_errors():
    with pytest.raises(p.ProtocolError):
        started().feed(b"send", 0)
    with pytest.raises(p.ProtocolError):
        started().feed(b"xyz", 0)


@given(st.binary(min_size=1, max_size=5000), st.integers(1, 400))
def test_base64_streams_in_bounded_chunks(data, third):
    raw_chunk = third * 3
    chunks = list(client.b64_chunks(data, raw_chunk))
    assert b"".join(chunks) == base64.b64encode(data)
    assert len(b"".join(chunks)) == client.b64_size(len(data))
    assert max(len(c) for c in chunks) <= raw_chunk // 3 * 4


def test_camera_sends_the_frame_through_convention_one():
    [frame] = [b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9"]
    app = camera.Camera(hardware.FakeCam([frame], random.Random(0)), raw_chunk=500)
    assert app.raw_chunk == 498  # rounded to whole 3-byte groups
    session = started(app, "img")
    session.feed(b"img", 0)
    [declaration] = drain(session)
    session.feed(b"send", 0)
    body = drain(session)
    assert declaration == b"size-%d" % client.b64_size(len(frame))
    assert base64.b64decode(b"".join(body)) == frame
    assert max(map(len, body)) == 664


def test_camera_ignores_a_failed_capture():
    app = camera.Camera(hardware.FakeCam([b"not a jpeg"], random.Random(0)))
    session = started(app, "img")
    session.feed(b"img", 0)
    assert drain(session) == []


# --- backoff -------------------------------------------------------------------


@given(st.integers(1, 5000), st.integers(1, 100000), st.integers(0, 2**32))
def test_backoff_grows_with_jitter_and_caps(first, cap, seed):
    backoff = client.Backoff(first, cap, random.Random(seed))
    step = backoff.first_ms
    for _ in range(25):
        delay = backoff.next_ms()
        assert step - step // 2 <= delay <= step
        step = min(step * 2, backoff.max_ms)
    backoff.reset()
    assert backoff.next_ms() <= backoff.first_ms


def test_clock_survives_wrapping_ticks():
    ticks = [2**30 - 10]

    def ticks_ms():
        return ticks[0]

    def ticks_diff(a, b):  # MicroPython's ticks wrap at 2**30
        return ((a - b + 2**29) % 2**30) - 2**29

    clock = client.Clock(ticks_ms, ticks_diff)
    ticks[0] = 15  # wrapped
    assert clock.now() == 25


# --- the cabinet -----------------------------------------------------------------


class Pins:
    def __init__(self, values):
        self.values = list(values)

    def read(self):
        return list(self.values)


def test_cabinet_debounces_and_coalesces():
    pins = Pins([True, True, False])
    strip = hardware.FakeStrip(3)
    app = cabinet.Cabinet(["A", "A", "B"], pins, strip, poll_ms=10, debounce_ms=50)
    session = started(app)
    assert drain(session) == [b"size-%d" % len(json.dumps({"A": 2, "B": 0}))]
    session.feed(b"send", 0)
    assert json.loads(b"".join(drain(session))) == {"A": 2, "B": 0}
    # bounce: flips faster than the debounce time change nothing
    for t in range(0, 50, 10):
        pins.values[0] = t % 20 == 0
        app.poll(session, 1000 + t)
    pins.values[0] = True
    for t in range(50, 200, 10):
        app.poll(session, 1000 + t)
    assert drain(session) == []
    # a real change is sent once settled; a second change waits for the first transfer
    pins.values[1] = False
    app.poll(session, 2000)
    app.poll(session, 2060)
    assert drain(session) == [b"size-%d" % len(json.dumps({"A": 1, "B": 0}))]
    assert strip.shown[1] == cabinet.TAKEN_COLOUR
    pins.values[2] = True
    app.poll(session, 2100)
    app.poll(session, 2160)
    assert drain(session) == []  # still waiting for send
    session.feed(b"send", 0)
    assert json.loads(b"".join(drain(session))) == {"A": 1, "B": 0}
    app.poll(session, 2170)
    assert drain(session) == [b"size-%d" % len(json.dumps({"A": 1, "B": 1}))]
    session.feed(b"send", 0)
    assert json.loads(b"".join(drain(session))) == {"A": 1, "B": 1}
    assert strip.shown[2] == cabinet.RETURNED_COLOUR
    app.poll(session, 2170 + cabinet.CUE_MS)
    assert strip.shown == [cabinet.ON_COLOUR] * 3  # cues expire
    app.on_command(session, "lof", 5000)
    assert strip.shown == [(0, 0, 0)] * 3


def test_cabinet_lights_one_slot_on_the_slot_command_until_lof():
    pins = Pins([True, True, True, False])
    strip = hardware.FakeStrip(4)
    app = cabinet.Cabinet(["Zinc", "Aspirin", "Aspirin", "Oats"], pins, strip)
    logged = []
    app.log = lambda *a: logged.append(a)
    session = started(app)
    expected = b'{"Zinc": 1, "Aspirin": 2, "Oats": 0}'
    assert drain(session) == [b"size-%d" % len(expected)]
    session.feed(b"send", 0)
    # the inventory lists items in slot order, which is what ls<NN> counts
    assert b"".join(drain(session)) == expected
    session.feed(b"lof", 10)
    session.feed(b"ls01", 20)  # Aspirin: both its positions
    off, due = cabinet.OFF_COLOUR, cabinet.DUE_COLOUR
    assert strip.shown == [off, due, due, off]
    session.feed(b"lon", 30)  # the shelf light comes on; the slot stays lit
    assert strip.shown == [cabinet.ON_COLOUR, due, due, cabinet.ON_COLOUR]
    session.feed(b"ls0", 40)
    session.feed(b"2ls07", 50)  # split across reads; slot 7 does not exist: logged, ignored
    assert strip.shown == [cabinet.ON_COLOUR, due, due, due]
    assert logged == [("cabinet: no slot 7",)]
    session.feed(b"lof", 60)
    assert strip.shown == [off] * 4 and app.lit_slots == set()


def test_layout_from_config():
    items, pins = cabinet.layout({"slots": [["Pepsi", [25, 26]], ["Oats", [4]]]})
    assert items == ["Pepsi", "Pepsi", "Oats"]
    assert pins == [25, 26, 4]


def test_simulated_body_ratio_inverts_the_spo2_curve():
    body = hardware.Body(random.Random(0))
    for spo2 in (90.0, 95.0, 99.0):
        body.spo2 = spo2
        assert max30102.spo2_from_ratio(body.ratio()) == pytest.approx(spo2)
    assert math.isfinite(body.heart_rate(1000.0))


# --- the watch app and the two link ends together -------------------------------


def test_watch_without_its_sensor_logs_and_sends_nothing():
    app = watch.from_config({}, hardware.FakeI2C({}))
    logged = []
    app.log = lambda *a: logged.append(a)
    session = started(app, "wch")
    session.feed(b"bpm", 0)
    assert app.meter is None and "pulse sensor error" in logged[0][0]
    assert app.next_poll(0) is None
    assert drain(session) == []


def test_watch_gives_up_when_the_sensor_stops_delivering():
    clock = Clock()
    body = hardware.Body(random.Random(4), 0.0, 0.0)
    body.forced = True
    app = watch.from_config({"measure_s": 15}, hardware.watch_i2c(body, clock))
    app.log = lambda *a: None
    session = started(app, "wch")
    session.feed(b"bpm", 0)
    clock.t += 2
    app.poll(session, 2000)
    app.pulse.shutdown()  # the chip stops sampling, as a brown-out would leave it
    app.poll(session, 33_000)
    assert app.meter is None and app.finger_off == 1
    assert drain(session) == []


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def play(device: client.Session, command: bytes, cuts: list[int]) -> list:
    """A device session against a GatewayLink, every device write re-chunked at ``cuts``."""
    gw = p.GatewayLink()
    device.feed(gw.greeting(), 0)
    gw.feed(b"".join(drain(device)))
    events = [gw.end_of_hello()]
    device.feed(gw.accept() + command, 0)
    for _ in range(50):
        sent = b"".join(drain(device))
        if not sent:
            break
        for piece in _pieces(sent, cuts):
            events.extend(gw.feed(piece))
            device.feed(gw.data_to_send(), 0)
    return events


@settings(max_examples=30, deadline=None)
@given(
    jpeg_tail=st.binary(min_size=0, max_size=3000),
    raw_chunk=st.integers(1, 300).map(lambda n: n * 3),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
)
def test_camera_session_and_gateway_link_agree_under_any_chunking(jpeg_tail, raw_chunk, cuts):
    frame = b"\xff\xd8" + jpeg_tail
    app = camera.Camera(hardware.FakeCam([frame], random.Random(0)), raw_chunk)
    hello, declared, payload = play(client.Session(app, "img-01", "t0k"), b"img", cuts)
    assert hello == p.Hello("img-01", "t0k")
    assert declared == p.SizeDeclared(client.b64_size(len(frame)))
    assert base64.b64decode(payload.data) == frame


class Reporter(Recorder):
    """An app that answers bpm with fixed readings, as the watch does."""

    def on_command(self, session, name, now):
        session.send_reading(71.994, "bpm")
        session.send_reading(36.6, "temp")
        session.send_reading(97, "spo2")


@given(cuts=st.lists(st.integers(0, 100), max_size=6))
def test_watch_readings_reach_the_gateway_link_whole(cuts):
    events = play(client.Session(Reporter(), "wch"), b"bpm", cuts)
    assert events == [
        p.Hello("wch", None),
        p.Reading("bpm", 71.99, b""),
        p.Reading("temp", 36.6, b""),
        p.Reading("spo2", 97.0, b""),
    ]


def test_the_ca_for_tls_is_read_as_der_from_pem_or_der(tmp_path):
    der = bytes(range(256)) * 3
    body = base64.encodebytes(der).decode()  # 76-character lines, as openssl writes them
    pem = tmp_path / "ca.crt"
    pem.write_text(f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")
    raw = tmp_path / "ca.der"
    raw.write_bytes(der)
    assert board.ca_der(str(pem)) == der
    assert board.ca_der(str(raw)) == der
