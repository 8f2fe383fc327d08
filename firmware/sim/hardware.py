"""Simulated boards at the register and pin level, so the real drivers run unchanged."""

import math
import random
import time

from firmware.smartcab import max30102, mlx90614

FULL_SCALE = max30102.SAMPLE_MASK
AMBIENT_IR = 1500  # what the photodiode sees with nothing on it


class Body:
    """A wearer: heart rate, SpO2 and skin temperature that drift plausibly over time."""

    def __init__(self, rng: random.Random, finger_off_rate=0.05, motion_rate=0.1):
        self.rng = rng
        self.hr_base = rng.uniform(58, 92)
        self.spo2 = rng.uniform(95.0, 99.0)
        self.temp_base = rng.uniform(36.3, 37.1)
        self.finger_off_rate = finger_off_rate
        self.motion_rate = motion_rate
        self.phase = rng.random() * 1000.0
        self.finger_on = True
        self.forced = None  # tests pin finger_on to True or False

    def heart_rate(self, t: float) -> float:
        """Slow drift over the day plus breathing (respiratory sinus arrhythmia)."""
        drift = 8.0 * math.sin((t + self.phase) / 900.0)
        breath = 2.0 * math.sin(2 * math.pi * (t + self.phase) / 4.5)
        return self.hr_base + drift + breath

    def temperature(self, t: float) -> float:
        return self.temp_base + 0.3 * math.sin((t + self.phase) / 3600.0)

    def ratio(self) -> float:
        """Red/IR ratio of ratios that Maxim's curve maps to this SpO2 (upper root)."""
        a, b, c = -45.060, 30.354, 94.845 - self.spo2
        return (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)

    def new_measurement(self) -> None:
        """The sensor was switched on: is the finger there this time?"""
        if self.forced is not None:
            self.finger_on = self.forced
        else:
            self.finger_on = self.rng.random() >= self.finger_off_rate


def pulse_shape(phase: float) -> float:
    """Blood volume over one beat: fast systolic rise, slow fall, a small dicrotic wave."""
    if phase < 0.15:
        return phase / 0.15
    return math.exp(-(phase - 0.15) * 5.0) + 0.12 * math.exp(-(((phase - 0.45) / 0.05) ** 2))


class FakeMax30102:
    """The chip's registers and 32-sample FIFO, filled from a ``Body`` as time passes."""

    def __init__(self, body: Body, clock=time.monotonic, speed: float = 1.0):
        self.body = body
        self.clock = clock
        self.speed = speed
        self.rng = body.rng
        self.regs = bytearray(256)
        self.regs[max30102.REG_PART_ID] = max30102.PART_ID
        self.fifo: list[tuple[int, int]] = []
        self.overflow = 0
        self.running = False
        self.t_signal = 0.0
        self.produced = 0.0
        self.last = clock()
        self.beat = 0.0
        self.motion_left = 0
        self.motion_len = 1
        self.motion_size = 0.0
        self.dc_ir = 120000.0
        self.dc_red = 90000.0

    def rate(self) -> int:
        sr = {v: k for k, v in max30102.SAMPLE_RATES.items()}
        avg = {v: k for k, v in max30102.AVERAGING.items()}
        config = self.regs[max30102.REG_SPO2_CONFIG]
        return sr[(config >> 2) & 7] // avg[(self.regs[max30102.REG_FIFO_CONFIG] >> 5) & 7]

    def write(self, reg: int, value: int) -> None:
        if reg == max30102.REG_MODE_CONFIG:
            if value & max30102.MODE_RESET:
                self.regs[:] = bytes(256)
                self.regs[max30102.REG_PART_ID] = max30102.PART_ID
                self.fifo.clear()
                self.running = False
                return
            was = self.running
            self.running = value & 7 == max30102.MODE_SPO2 and not value & max30102.MODE_SHUTDOWN
            if self.running and not was:
                self.last = self.clock()
                self.produced = 0.0
                self.body.new_measurement()
                self.dc_ir = self.rng.uniform(100000, 140000)
                self.dc_red = self.dc_ir * self.rng.uniform(0.65, 0.8)
        elif reg in (max30102.REG_FIFO_WR_PTR, max30102.REG_FIFO_RD_PTR):
            self.fifo.clear()
        elif reg == max30102.REG_OVF_COUNTER:
            self.overflow = 0
        self.regs[reg] = value

    def read(self, reg: int, n: int) -> bytes:
        self._generate()
        if reg == max30102.REG_FIFO_DATA:
            out = bytearray()
            for _ in range(min(n // 6, len(self.fifo))):
                red, ir = self.fifo.pop(0)
                out += red.to_bytes(3, "big") + ir.to_bytes(3, "big")
                self.regs[max30102.REG_FIFO_RD_PTR] = (self.regs[max30102.REG_FIFO_RD_PTR] + 1) & 31
                self.overflow = 0
            return bytes(out) + bytes(n - len(out))
        if reg == max30102.REG_FIFO_WR_PTR:
            return bytes([(self.regs[max30102.REG_FIFO_RD_PTR] + len(self.fifo)) & 31])
        if reg == max30102.REG_OVF_COUNTER:
            return bytes([min(self.overflow, 31)])
        return bytes(self.regs[reg : reg + n])

    def _generate(self) -> None:
        now = self.clock()
        if not self.running:
            self.last = now
            return
        rate = self.rate()
        self.produced += (now - self.last) * rate * self.speed
        self.last = now
        count = int(self.produced)
        self.produced -= count
        for _ in range(count):
            self.fifo.append(self._sample(rate))
            if len(self.fifo) > max30102.FIFO_DEPTH:
                self.fifo.pop(0)  # roll-over mode: the oldest sample is lost
                self.overflow += 1

    def _sample(self, rate: int) -> tuple[int, int]:
        body, rng = self.body, self.rng
        self.t_signal += 1.0 / rate
        if not body.finger_on:
            ir = AMBIENT_IR + rng.gauss(0, 200)
            return _clip(ir * 0.8), _clip(ir)
        self.beat = (self.beat + body.heart_rate(self.t_signal) / 60.0 / rate) % 1.0
        p = pulse_shape(self.beat)
        depth = 0.015
        ir = self.dc_ir * (1 - depth * p) + rng.gauss(0, 25)
        red = self.dc_red * (1 - depth * body.ratio() * p) + rng.gauss(0, 25)
        if self.motion_left <= 0 and rng.random() < body.motion_rate / rate:
            # the wrist moved: the sensor shifts against the skin for a moment
            self.motion_len = self.motion_left = max(2, int(rate * rng.uniform(0.2, 0.6)))
            self.motion_size = rng.uniform(-0.05, 0.05)
        if self.motion_left > 0:
            self.motion_left -= 1
            jolt = motion_shape(self.motion_left, self.motion_len, self.motion_size)
            ir *= 1 + jolt
            red *= 1 + jolt
        return _clip(red), _clip(ir)


def motion_shape(left: int, length: int, size: float) -> float:
    """A smooth push and release over ``length`` samples."""
    return size * math.sin(math.pi * (length - left) / length)


def _clip(value: float) -> int:
    return max(0, min(FULL_SCALE, int(value)))


class FakeMlx90614:
    """The thermometer's RAM words with a correct PEC, from a ``Body``."""

    def __init__(self, body: Body, clock=time.monotonic, ambient: float = 23.5):
        self.body = body
        self.clock = clock
        self.ambient = ambient
        self.t0 = clock()

    def read(self, reg: int, n: int) -> bytes:
        if reg == mlx90614.REG_TOBJ1:
            celsius = self.body.temperature(self.clock() - self.t0) + self.body.rng.gauss(0, 0.03)
        elif reg == mlx90614.REG_TA:
            celsius = self.ambient
        else:
            return bytes(n)
        raw = mlx90614.celsius_to_raw(celsius)
        lsb, msb = raw & 0xFF, raw >> 8
        addr = mlx90614.ADDR
        pec = mlx90614.crc8((addr << 1, reg, (addr << 1) | 1, lsb, msb))
        return bytes((lsb, msb, pec))[:n]

    def write(self, reg: int, value: int) -> None:
        pass


class FakeI2C:
    """``machine.I2C``'s memory-access methods over a dict of fake chips by address."""

    def __init__(self, chips: dict):
        self.chips = chips

    def _chip(self, addr: int):
        chip = self.chips.get(addr)
        if chip is None:
            raise OSError(19, "ENODEV: no device at 0x%02x" % addr)
        return chip

    def readfrom_mem(self, addr: int, reg: int, n: int) -> bytes:
        return self._chip(addr).read(reg, n)

    def writeto_mem(self, addr: int, reg: int, data: bytes) -> None:
        chip = self._chip(addr)
        for i, value in enumerate(data):
            chip.write(reg + i, value)

    def scan(self) -> list[int]:
        return sorted(self.chips)


def watch_i2c(body: Body, clock=time.monotonic, speed: float = 1.0) -> FakeI2C:
    return FakeI2C(
        {
            max30102.ADDR: FakeMax30102(body, clock, speed),
            mlx90614.ADDR: FakeMlx90614(body, clock),
        }
    )


class FakeCam:
    """An ESP32-CAM that returns one of a set of JPEG frames, or what ``draw()`` shows now."""

    def __init__(self, frames: list[bytes], rng: random.Random, draw=None):
        self.frames = frames
        self.rng = rng
        self.draw = draw

    def capture(self) -> bytes:
        if self.draw is not None:
            return self.draw()
        return self.rng.choice(self.frames)


DAY_S = 86400.0


class Shelf:
    """A cabinet's positions as a person uses them, with contact bounce.

    Every ``every_s`` seconds on average someone takes something out. An item with
    several positions holds packs (bars, sachets): one is taken and stays gone, and an
    empty item is restocked whole. An item with one position holds a box (a medicine,
    a jar): it is taken out and put back a minute or two later. ``routine`` names
    boxes that are taken at set times of day instead (UTC seconds of the day, as a
    patient takes a medicine), read from ``wall``. Without ``items`` every position is
    a box of its own.
    """

    BOUNCE_S = 0.03
    BACK_S = (30.0, 120.0)

    def __init__(
        self,
        positions: int,
        rng: random.Random,
        clock=time.monotonic,
        every_s=30.0,
        items: list[str] | None = None,
        routine: dict[str, list[float]] | None = None,
        wall=time.time,
    ):
        self.rng = rng
        self.clock = clock
        self.wall = wall
        self.every_s = every_s
        self.items = list(items) if items is not None else [str(i) for i in range(positions)]
        self.present = [True] * positions
        self.bouncing_until = [0.0] * positions
        self.back_at: dict[int, float] = {}  # position -> when its box is put back
        self.routine = {k: sorted(v) for k, v in (routine or {}).items() if k in self.items}
        self.next_change = clock() + self._gap()
        self.next_routine = self._routine_after(wall())

    def _gap(self) -> float:
        return self.rng.expovariate(1.0 / self.every_s) if self.every_s > 0 else math.inf

    def _routine_after(self, moment: float) -> tuple[float, str] | None:
        """The next (time, item) of the routine after ``moment`` (wall clock)."""
        day = moment - moment % DAY_S
        found = [
            (day + extra + at, item)
            for item, times in self.routine.items()
            for at in times
            for extra in (0.0, DAY_S)
            if day + extra + at > moment
        ]
        return min(found) if found else None

    def set(self, position: int, present: bool) -> None:
        """Put an item at or take it from ``position`` (tests and the simulation)."""
        if self.present[position] != present:
            self.present[position] = present
            self.bouncing_until[position] = self.clock() + self.BOUNCE_S

    def positions(self, item: str) -> list[int]:
        return [i for i, name in enumerate(self.items) if name == item]

    def use(self, item: str) -> None:
        """Someone reaches for ``item``: a pack or the box out, or an empty item restocked."""
        spots = self.positions(item)
        full = [i for i in spots if self.present[i]]
        if not full and len(spots) == 1:
            return  # the box is out already
        if not full:
            for i in spots:  # restocked
                self.set(i, True)
                self.back_at.pop(i, None)
            return
        taken = self.rng.choice(full)
        self.set(taken, False)
        if len(spots) == 1:
            self.back_at[taken] = self.clock() + self.rng.uniform(*self.BACK_S)

    def _advance(self, now: float) -> None:
        for i, at in list(self.back_at.items()):
            if now >= at:
                del self.back_at[i]
                self.set(i, True)
        random_items = sorted(set(self.items) - set(self.routine))
        while now >= self.next_change:
            if random_items:
                self.use(self.rng.choice(random_items))
            self.next_change += self._gap()
        wall = self.wall()
        while self.next_routine is not None and wall >= self.next_routine[0]:
            self.use(self.next_routine[1])
            self.next_routine = self._routine_after(self.next_routine[0])

    def read(self) -> list[bool]:
        now = self.clock()
        self._advance(now)
        return [
            self.rng.random() < 0.5 if now < self.bouncing_until[i] else self.present[i]
            for i in range(len(self.present))
        ]


class FakeStrip:
    """``neopixel.NeoPixel``: a pixel list and a count of ``write()`` calls."""

    def __init__(self, n: int):
        self.pixels = [(0, 0, 0)] * n
        self.writes = 0
        self.shown = list(self.pixels)

    def __len__(self) -> int:
        return len(self.pixels)

    def __setitem__(self, i: int, colour) -> None:
        self.pixels[i] = tuple(colour)

    def __getitem__(self, i: int):
        return self.pixels[i]

    def write(self) -> None:
        self.writes += 1
        self.shown = list(self.pixels)
