"""The board code on the real MicroPython VM (WebAssembly port), within each board's heap.

The protocol module's both ends replay the CPython tests' byte streams in every
single-cut and many multi-cut chunkings; each app runs on simulated ``machine``,
``network``, ``socket``, ``camera`` and sensor chips, against the real gateway
protocol (``GatewayLink`` under CPython) answering as the gateway does. Each step is
one call into the VM, so the live heap after ``gc.collect()`` between calls is what a
board holds between two events.
"""

import base64
import binascii
import io
import json
import os
import random
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from PIL import Image

from services.common import protocol as p
from tests.support import mpvm

try:  # the vectors the CPython protocol tests use
    from tests.unit import test_protocol as vectors
except ImportError:
    from tests import test_protocol as vectors

ROOT = mpvm.ROOT
KB = 1024
# What the chips leave to MicroPython's heap (see firmware/README.md, "Memory").
ESP32_HEAP_BUDGET = 100 * KB  # ESP32-WROOM-32 without PSRAM: watch and cabinet
ESP32_CAM_HEAP_BUDGET = 1024 * KB  # ESP32-CAM, GC heap in its 4 MB PSRAM: camera
# After the first rounds a long session must not grow: a leak shows within this.
LEAK_SLACK = 512
JPEG_SIZE = 96 * KB
HW = Path(mpvm.MPVM, "hw", "vmsteps.py").read_text(encoding="utf-8")


def cpython_steps():
    """The same helper module the VM runs, under CPython."""
    namespace = {"__name__": "vmsteps_cpython"}
    code = HW.replace("from smartcab import protocol", "from services.common import protocol")
    exec(compile(code, "vmsteps.py", "exec"), namespace)
    return namespace


@pytest.fixture
def vm():
    machine = mpvm.MicroPythonVM()
    machine.step("import gc, vmsteps")
    yield machine
    machine.close()


def cut_sets(data: bytes, seed: int, many: int = 40) -> list[list[int]]:
    """Every single cut, then seeded random multi-cut chunkings (as hypothesis draws)."""
    rng = random.Random(seed)
    cuts = [[c] for c in range(len(data) + 1)]
    cuts += [
        [rng.randrange(len(data) + 1) for _ in range(rng.randrange(2, 40))] for _ in range(many)
    ]
    cuts.append(list(range(len(data) + 1)))  # one byte at a time
    return cuts


@pytest.mark.parametrize("name", ["WATCH_TURNS", "CAMERA_TURNS", "CABINET_TURNS"])
def test_gateway_end_gives_cpythons_events_in_every_chunking(vm, name):
    turns = getattr(vectors, name)
    here = cpython_steps()
    longest = max(turns, key=len)
    cuts = cut_sets(longest, seed=len(longest))
    expected = [here["gateway_session"](turns, c) for c in cuts]
    assert all(e == expected[0] for e in expected)  # CPython itself is chunking-blind
    vm.step("TURNS = [vmsteps.unhex(t) for t in %r]" % [t.hex() for t in turns])
    got = []
    for i in range(0, len(cuts), 200):  # one call per batch keeps each call short
        got += vm.eval(f"[vmsteps.gateway_session(TURNS, c) for c in {cuts[i : i + 200]!r}]")
    assert [tuple(g) for g in got] == expected
    assert got[0][1] == here["gateway_session"](turns, [])[1]


def test_gateway_end_refuses_the_same_malformed_messages(vm):
    here = cpython_steps()
    junk = [
        b"size-999999999",
        b"size-12345678901",
        b"size-x",
        b"size-0{",
        b"size-12a",
        b"sizz",
        b"hello",
        b"72.00;bpm",
        b"72.00,bpx",
        b"1" * 40,
        b"\x00\xff",
        b"nan,bpm",
    ]
    got = vm.eval("[vmsteps.malformed(vmsteps.unhex(j)) for j in %r]" % [j.hex() for j in junk])
    assert got == [here["malformed"](j) for j in junk]
    assert all(got[:-1]) and got[-1] is None  # nan is a bad reading, not a broken stream


def test_device_end_parses_the_gateways_bytes_in_every_chunking(vm):
    stream = p.ID_REQUEST_FRAME + b"start" + b"bpmsendimglofloninvls07"
    here = cpython_steps()
    cuts = cut_sets(stream, seed=7)
    vm.step(f"STREAM = vmsteps.unhex({stream.hex()!r})")
    got = vm.eval(f"[vmsteps.device_session(STREAM, c) for c in {cuts!r}]")
    assert [tuple(g) for g in got] == [here["device_session"](stream, c) for c in cuts]
    assert got[0] == [
        [["IdRequested"], ["Started"], ["Command", "bpm"], ["SendGranted"]]
        + [["Command", c] for c in ("img", "lof", "lon", "inv", "ls07")],
        True,
    ]


class Gateway:
    """The gateway's side of one connection: the real GatewayLink, scripted commands."""

    def __init__(self):
        self.link = p.GatewayLink()
        self.pending = self.link.greeting()
        self.events: list = []

    def to_device(self, command: bytes = b"") -> bytes:
        out, self.pending = self.pending + command, b""
        return out

    def from_device(self, data: bytes) -> None:
        if data:
            self.events += self.link.feed(data)
        if self.link.hello_pending and not data:
            # the device fell quiet after its hello: the gateway's settle timer fires
            self.events.append(self.link.end_of_hello())
            self.pending += self.link.accept()
        self.pending += self.link.data_to_send()

    def take(self) -> list:
        events, self.events = self.events, []
        return events


def device_bytes(out: str) -> tuple[bytes, bool, list[str]]:
    """The board's writes (``>`` hex lines), whether more are waiting, and its log lines."""
    lines = out.splitlines()
    data = b"".join(bytes.fromhex(line[1:]) for line in lines if line.startswith(">"))
    logs = [line for line in lines if not line.startswith(">") and line != "more"]
    return data, "more" in lines, logs


def exchange(vm, gateway: Gateway, now: int, command: bytes = b"", prelude: str = "") -> list:
    """One event on the board (gateway bytes, app poll, writes); returns its log lines."""
    data_hex = gateway.to_device(command).hex()
    code = prelude + f"vmsteps.exchange(s, {data_hex!r}, {now}, 8)"
    data, _more, logs = device_bytes(vm.step(code))
    gateway.from_device(data)
    return logs


def handshake(vm, gateway: Gateway, device_id: str, now: int = 0, prelude: str = "") -> None:
    for _ in range(4):
        exchange(vm, gateway, now, prelude=prelude)
    assert gateway.take()[0] == p.Hello(device_id, None)
    assert vm.eval("s.started") is True


WATCH_SETUP = """
import machine, simchips
from smartcab import client, watch
machine.chips[0x57] = simchips.Max30102(bpm=72.0, spo2=97.0)
machine.chips[0x5A] = simchips.Mlx90614(celsius=36.6)
i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100000)
app = watch.from_config({"measure_s": 15, "sample_rate": 100, "averaging": 4}, i2c)
app.pulse.check()
s = client.Session(app, "wch")
"""


def measure(vm, gateway: Gateway, start: int) -> tuple[list, int]:
    """``bpm``, then one exchange per second of sensor time until the window is over."""
    now = start
    tick = "simchips.clock[0] = %d\n"
    exchange(vm, gateway, now, b"bpm", prelude=tick % now)
    for _ in range(20):
        now += 1000
        exchange(vm, gateway, now, prelude=tick % now)
        if vm.eval("app.meter is None"):
            break
    exchange(vm, gateway, now, prelude=tick % now)
    return gateway.take(), now


def test_watch_measures_and_reports_within_an_esp32s_heap(vm):
    vm.step(WATCH_SETUP)
    gateway = Gateway()
    handshake(vm, gateway, "wch")
    now = 0
    heaps = []
    for _ in range(6):
        readings, now = measure(vm, gateway, now + 5000)
        assert [r.unit for r in readings] == ["bpm", "temp", "spo2"]
        bpm, temp, spo2 = (r.value for r in readings)
        assert bpm == pytest.approx(72, abs=3)
        assert temp == pytest.approx(36.6, abs=0.05)
        assert spo2 == pytest.approx(97, abs=2)
        heaps.append(vm.allocs[-1])
    vm.step("machine.chips[0x57].finger = False")
    readings, now = measure(vm, gateway, now + 5000)
    assert readings == []  # finger off: the watch sends nothing
    assert vm.eval("[app.measurements, app.finger_off]") == [7, 1]
    assert max(heaps[2:]) - heaps[1] <= LEAK_SLACK, heaps
    report("watch", vm.peak, ESP32_HEAP_BUDGET)


CABINET_CFG = {
    "id": "cab",
    "gateway_host": "192.0.2.1",
    "gateway_port": 5050,
    "wifi_ssid": "home",
    "wifi_password": "pw",
    "watchdog_ms": 30000,
    "slots": [["Nutella", [32, 33]], ["Pepsi", [25, 26]], ["Pringles", [27, 14]]],
    "poll_ms": 5,
    "debounce_ms": 30,
}
CABINET_SETUP = """
import json, machine, neopixel, network, socket
from smartcab import board, cabinet, client
cfg = json.loads(%r)
for pin in (32, 25, 26):
    machine.levels[pin] = 0  # items stand on these positions (switches close to GND)
plat = board.Platform(cfg)
plat.join_wifi(cfg)
sock = plat.connect(cfg["gateway_host"], cfg["gateway_port"])
items, pins = cabinet.layout(cfg)
strip = neopixel.NeoPixel(machine.Pin(13), len(pins))
app = cabinet.from_config(cfg, cabinet.PinSensors(pins, cfg["active_low"]), strip)
s = client.Session(app, cfg["id"])
clock = client.Clock(plat.ticks_ms, plat.ticks_diff)

def once():
    # board.serve runs one turn of its loop per call: feed, write, poll, read, app
    n = [0]
    def stop():
        n[0] += 1
        return n[0] > 1
    return stop

def turn(data_hex):
    if data_hex:
        sock.deliver(vmsteps.unhex(data_hex))
    board.serve(sock, s, clock, plat, once())
    board.serve(sock, s, clock, plat, once())  # the writes of that turn go out
    out = sock.take()
    if out:
        print(">" + vmsteps.binascii.hexlify(out).decode())
"""


def cabinet_colour(name: str) -> tuple:
    from firmware.smartcab import cabinet

    return getattr(cabinet, name + "_COLOUR")


def turn(vm, gateway: Gateway, command: bytes = b"") -> list:
    data, _more, logs = device_bytes(vm.step(f"turn({gateway.to_device(command).hex()!r})"))
    gateway.from_device(data)
    return logs


def inventory(vm, gateway: Gateway, command: bytes = b"", turns: int = 30) -> dict:
    """Turns until one inventory has arrived through size-/send/payload."""
    turn(vm, gateway, command)
    for _ in range(turns):
        payloads = [e for e in gateway.events if isinstance(e, p.Payload)]
        if payloads:
            gateway.take()
            return json.loads(payloads[-1].data)
        turn(vm, gateway)
    raise AssertionError(f"no inventory arrived: {gateway.events!r}")


def test_cabinet_board_loop_serves_rounds_within_an_esp32s_heap(vm):
    vm.step(CABINET_SETUP % json.dumps({**CABINET_CFG, "active_low": True}))
    assert vm.eval("network.joins") == [["home", "pw"]]
    gateway = Gateway()
    for _ in range(3):
        turn(vm, gateway)
    assert gateway.take()[0] == p.Hello("cab", None)
    first = inventory(vm, gateway)
    assert first == {"Nutella": 1, "Pepsi": 2, "Pringles": 0}
    assert list(first) == ["Nutella", "Pepsi", "Pringles"]  # slot order, what ls<NN> counts
    heaps = []
    for i in range(40):
        assert inventory(vm, gateway, b"inv")["Pepsi"] == 2
        turn(vm, gateway, b"lof")
        assert vm.eval("strip.shown[:4]") == [list(cabinet_colour("OFF"))] * 4
        turn(vm, gateway, b"lon")
        assert vm.eval("strip.shown[:4]") == [list(cabinet_colour("ON"))] * 4
        turn(vm, gateway, b"ls01")  # Pepsi, the second slot: its two positions
        on, due = list(cabinet_colour("ON")), list(cabinet_colour("DUE"))
        assert vm.eval("strip.shown[:4]") == [on, on, due, due]
        vm.step(f"machine.levels[14] = {i % 2}")  # a Pringles can put back or taken
        counts = inventory(vm, gateway, turns=200)
        assert counts["Pringles"] == (0 if i % 2 else 1), (i, counts)
        heaps.append(vm.allocs[-1])
    assert vm.eval("machine.watchdogs[0].feeds > 100") is True
    assert max(heaps[10:]) - min(heaps[5:10]) <= LEAK_SLACK, heaps
    report("cabinet", vm.peak, ESP32_HEAP_BUDGET)


def test_board_loop_reconnects_after_a_refusal_and_a_hang_up(vm):
    cfg = {**CABINET_CFG, "active_low": True, "backoff_ms": 1, "backoff_max_ms": 4}
    script = [[p.ID_REQUEST_FRAME.hex(), b"start".hex()]]
    out = vm.step(
        "import json, machine, socket\nfrom smartcab import board, cabinet\n"
        f"cfg = json.loads({json.dumps(cfg)!r})\nsocket.refuse = 1\n"
        f"socket.script = [[vmsteps.unhex(x) for x in c] for c in {script!r}]\n"
        "items, pins = cabinet.layout(cfg)\n"
        "app = cabinet.from_config(cfg, cabinet.PinSensors(pins))\n"
        "board.run(app, cfg, board.Platform(cfg), lambda: len(socket.connections) >= 3)\n"
    )
    errors = [line for line in out.splitlines() if line.startswith("link: cab error:")]
    assert len(errors) == 2, out
    assert "113" in errors[0] and "gateway closed the connection" in errors[1]
    conns = vm.eval(
        "[[c.closed, vmsteps.binascii.hexlify(c.sent).decode()] for c in socket.connections]"
    )
    assert [c[0] for c in conns] == [True, True, True]  # run() closes each socket it leaves
    assert bytes.fromhex(conns[1][1]).startswith(b"new~cab" + b"size-")


def real_jpeg(size: int) -> bytes:
    """A camera-like JPEG, padded after its end marker to ``size`` bytes."""
    image = Image.effect_noise((320, 240), 40).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=60)
    data = out.getvalue()
    assert len(data) < size
    return data + b"\x00" * (size - len(data))


CAMERA_SETUP = """
import camera
from smartcab import client
from smartcab import camera as app_camera
cam = app_camera.EspCam(quality=12, flash_pin=4)
app = app_camera.from_config({"b64_raw_chunk": 768}, cam)
s = client.Session(app, "img")
"""


def test_camera_captures_and_sends_a_96_kb_jpeg_within_its_heap(vm):
    frame = real_jpeg(JPEG_SIZE)
    vm.step(CAMERA_SETUP, binary={"/frame.jpg": frame})
    gateway = Gateway()
    handshake(vm, gateway, "img")
    heaps = []
    for shot in range(3):
        exchange(vm, gateway, 1000 * shot, b"img")
        for _ in range(400):
            events = [e for e in gateway.events if isinstance(e, p.Payload)]
            if events:
                break
            exchange(vm, gateway, 1000 * shot)
            heaps.append(vm.allocs[-1])
        events = gateway.take()
        assert events[0] == p.SizeDeclared(len(base64.b64encode(frame)))
        assert binascii.a2b_base64(events[1].data) == frame
    assert max(heaps) > JPEG_SIZE  # the frame really sat on the heap while it was sent
    assert vm.eval("app.frames") == 3
    report("camera", vm.peak, ESP32_CAM_HEAP_BUDGET)


def report(board: str, peak: int, budget: int) -> None:
    print(f"{board}: peak live heap {peak / KB:.1f} KB of a {budget / KB:.0f} KB budget")
    assert peak <= budget, (
        f"{board}'s live heap peaked at {peak} bytes, over its budget of {budget}"
    )


# --- type check against the published MicroPython ESP32 stubs ----------------

MYPY_CONFIG = """
[mypy]
check_untyped_defs = True
# the board code is unannotated: its Nones and empty containers are not the point here
strict_optional = False
disable_error_code = var-annotated, no-redef
cache_dir = {cache}
[mypy-services.*,firmware.*,firmware]
# the CPython fallback import
ignore_missing_imports = True
"""


def stub_typeshed(dest: Path) -> Path:
    """The stubs laid out as mypy's typeshed, so MicroPython's modules replace CPython's."""
    stdlib = dest / "stdlib"
    modules = set()
    for name in ("micropython-stdlib-stubs", "micropython-esp32-stubs"):
        for file in metadata.distribution(name).files or []:
            parts = file.parts
            if file.suffix != ".pyi":
                continue
            if parts[0] == "stdlib":
                target = stdlib.joinpath(*parts[1:])
            elif parts[0] == "stubs":
                target = stdlib / parts[-1]
                modules.add(Path(parts[-1]).stem)
            else:
                target = stdlib.joinpath(*parts)
                modules.add(Path(parts[0]).stem)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file.locate(), target)
    with (stdlib / "VERSIONS").open("a") as versions:
        versions.writelines(f"{m}: 3.0-\n" for m in sorted(modules))
    return dest


def board_tree(dest: Path) -> Path:
    """The files as they sit on a board: lib/smartcab with the wire modules, otaboot, the mains."""
    lib = dest / "smartcab"
    lib.mkdir(parents=True)
    for path in (ROOT / "firmware" / "smartcab").glob("*.py"):
        shutil.copyfile(path, lib / path.name)
    for name in ("wire", "device_link"):
        shutil.copyfile(ROOT / "services" / "common" / f"{name}.py", lib / f"{name}.py")
    shutil.copyfile(ROOT / "firmware" / "otaboot.py", dest / "otaboot.py")
    for board in ("watch", "camera", "cabinet"):
        shutil.copyfile(ROOT / "firmware" / "boards" / board / "main.py", dest / f"{board}_main.py")
    shutil.copyfile(mpvm.MPVM / "stubs" / "camera.pyi", dest / "camera.pyi")
    return dest


def mypy(tmp_path: Path, src: Path) -> subprocess.CompletedProcess:
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG.format(cache=tmp_path / "cache"))
    targets = ["smartcab", "otaboot.py", "watch_main.py", "camera_main.py", "cabinet_main.py"]
    typeshed = stub_typeshed(tmp_path / "typeshed")
    command = [sys.executable, "-m", "mypy", "--config-file", str(config)]
    return subprocess.run(
        [*command, "--custom-typeshed-dir", str(typeshed), *targets],
        cwd=src,
        env={**os.environ, "MYPYPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_board_code_type_checks_against_the_esp32_stubs(tmp_path):
    result = mypy(tmp_path, board_tree(tmp_path / "src"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_check_catches_wrong_calls_to_pin_i2c_and_wlan(tmp_path):
    src = board_tree(tmp_path / "src")
    slips = [
        ("watch_main.py", "freq=100000", "frequency=100000"),
        ("smartcab/cabinet.py", "Pin.PULL_UP)", "Pin.PULLUP)"),
        ("smartcab/board.py", "network.WLAN(network.STA_IF)", "network.WLAN(network.STA_IF, 1)"),
    ]
    for name, good, bad in slips:
        text = (src / name).read_text()
        assert good in text
        (src / name).write_text(text.replace(good, bad))
    result = mypy(tmp_path, src)
    assert result.returncode == 1
    for name, _good, _bad in slips:
        assert f"{name}:" in result.stdout, result.stdout
    assert 'Unexpected keyword argument "frequency"' in result.stdout
    assert 'has no attribute "PULLUP"' in result.stdout
    assert 'Too many arguments for "WLAN"' in result.stdout
