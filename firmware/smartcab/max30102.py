"""MAX30102 pulse oximeter: an I2C driver and the heart-rate / SpO2 maths.

The driver runs the chip in SpO2 mode (red + IR LEDs) and drains its 32-sample
FIFO; ``PulseMeter`` turns the samples into beats per minute and SpO2 without
keeping the samples, so a 15 s window costs a few hundred bytes of RAM.
"""

ADDR = 0x57
REG_INT_STATUS1 = 0x00
REG_FIFO_WR_PTR = 0x04
REG_OVF_COUNTER = 0x05
REG_FIFO_RD_PTR = 0x06
REG_FIFO_DATA = 0x07
REG_FIFO_CONFIG = 0x08
REG_MODE_CONFIG = 0x09
REG_SPO2_CONFIG = 0x0A
REG_LED1_PA = 0x0C  # red
REG_LED2_PA = 0x0D  # IR
REG_PART_ID = 0xFF
PART_ID = 0x15

MODE_SHUTDOWN = 0x80
MODE_RESET = 0x40
MODE_SPO2 = 0x03
FIFO_DEPTH = 32
SAMPLE_MASK = 0x3FFFF  # 18-bit ADC

SAMPLE_RATES = {50: 0, 100: 1, 200: 2, 400: 3, 800: 4, 1000: 5, 1600: 6, 3200: 7}
AVERAGING = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4, 32: 5}
ADC_RANGE_16384NA = 0x60
PULSE_411US = 0x03  # 18-bit resolution

# Below this IR level nothing reflects the LED back: no finger on the sensor.
FINGER_MIN_IR = 50000
MIN_BPM = 35
MAX_BPM = 220
MAX_OFF_FRACTION = 0.2  # more finger-off than this in a window: no reading
MIN_CLEAN_FRACTION = 0.4  # clean beats must cover this much of the window


class MAX30102:
    """The chip on an I2C bus (``machine.I2C`` or anything with the same methods)."""

    def __init__(self, i2c, addr=ADDR, sample_rate=100, averaging=4, led_ma=7.0):
        if sample_rate not in SAMPLE_RATES or averaging not in AVERAGING:
            raise ValueError("unsupported sample rate or averaging")
        self.i2c = i2c
        self.addr = addr
        self.sample_rate = sample_rate
        self.averaging = averaging
        self.led = min(255, int(led_ma / 0.2))
        self.rate = sample_rate // averaging  # samples per second out of the FIFO

    def _write(self, reg, value):
        self.i2c.writeto_mem(self.addr, reg, bytes((value,)))

    def _read(self, reg):
        return self.i2c.readfrom_mem(self.addr, reg, 1)[0]

    def check(self):
        """Raise OSError unless a MAX30102 answers."""
        if self._read(REG_PART_ID) != PART_ID:
            raise OSError("MAX30102 not found")

    def start(self):
        """Reset, configure SpO2 mode and empty the FIFO."""
        self._write(REG_MODE_CONFIG, MODE_RESET)
        for _ in range(100):
            if not self._read(REG_MODE_CONFIG) & MODE_RESET:
                break
        self._read(REG_INT_STATUS1)  # clears the power-ready flag
        # averaging, roll over when full (fresh samples win), almost-full at 17 free
        self._write(REG_FIFO_CONFIG, (AVERAGING[self.averaging] << 5) | 0x10 | 0x0F)
        self._write(
            REG_SPO2_CONFIG, ADC_RANGE_16384NA | (SAMPLE_RATES[self.sample_rate] << 2) | PULSE_411US
        )
        self._write(REG_LED1_PA, self.led)
        self._write(REG_LED2_PA, self.led)
        self._write(REG_FIFO_WR_PTR, 0)
        self._write(REG_OVF_COUNTER, 0)
        self._write(REG_FIFO_RD_PTR, 0)
        self._write(REG_MODE_CONFIG, MODE_SPO2)

    def shutdown(self):
        """LEDs off, a few µA."""
        self._write(REG_MODE_CONFIG, MODE_SHUTDOWN)

    def available(self):
        wr = self._read(REG_FIFO_WR_PTR) & 0x1F
        rd = self._read(REG_FIFO_RD_PTR) & 0x1F
        n = (wr - rd) & 0x1F
        if n == 0 and self._read(REG_OVF_COUNTER):
            n = FIFO_DEPTH  # pointers equal and overflowed: the FIFO is full
        return n

    def read(self):
        """Drain the FIFO: two lists, red and IR samples, oldest first."""
        n = self.available()
        if not n:
            return [], []
        return decode_fifo(self.i2c.readfrom_mem(self.addr, REG_FIFO_DATA, n * 6))


def decode_fifo(data):
    """FIFO bytes (3 red + 3 IR per sample, big-endian, 18 bits) -> (red, ir) lists."""
    red = []
    ir = []
    for i in range(0, len(data) - 5, 6):
        red.append(((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]) & SAMPLE_MASK)
        ir.append(((data[i + 3] << 16) | (data[i + 4] << 8) | data[i + 5]) & SAMPLE_MASK)
    return red, ir


def median(values):
    s = sorted(values)
    n = len(s)
    if not n:
        return None
    if n % 2:
        return s[n // 2]
    return (s[n // 2 - 1] + s[n // 2]) / 2


def spo2_from_ratio(r):
    """Maxim's calibration curve for the red/IR ratio of ratios; None out of range."""
    if r <= 0.2 or r > 1.4:
        return None
    if r < 0.337:
        return 100.0  # the curve's top; below it the fit bends back down
    return min(100.0, -45.060 * r * r + 30.354 * r + 94.845)


class PulseMeter:
    """Beats and SpO2 from a stream of (red, IR) samples at ``rate`` per second.

    The DC level is tracked with a slow moving average; what is left (inverted:
    more blood absorbs more light) rises once per beat. A beat is an upward
    crossing of 30% of the recent amplitude, re-armed once the signal falls below
    -30%, with a refractory time for MAX_BPM. Each beat keeps its interval, its
    red/IR ratio and its size; beats of an odd size are dropped as motion and
    the medians of the rest shrug off what is left.
    """

    def __init__(self, rate, window_s, finger_min=FINGER_MIN_IR):
        self.rate = rate
        self.needed = int(rate * window_s)
        self.finger_min = finger_min
        self.settle = max(2, rate // 3)
        self.alpha = 1.0 / rate  # DC time constant of about a second
        self.decay = 1.0 - 1.5 / rate  # amplitude memory of well under a second
        self.smooth = max(1, rate // 25)
        self.refractory = rate * 60.0 / MAX_BPM
        self.n = 0
        self.off = 0
        self.beats = []  # (interval in samples, red/IR ratio, IR peak-to-peak) per beat
        self._reset_signal()

    def _reset_signal(self):
        self._dc_ir = None
        self._dc_red = 0.0
        self._on = 0
        self._hist = []
        self._prev = 0.0
        self._amp = 0.0
        self._armed = False
        self._last_beat = None
        self._cycle = None

    @property
    def done(self):
        return self.n >= self.needed

    def add(self, red, ir):
        self.n += 1
        if ir < self.finger_min:
            self.off += 1
            self._reset_signal()  # an interval across a gap is not a beat interval
            return
        if self._dc_ir is None:
            self._dc_ir = float(ir)
            self._dc_red = float(red)
        self._dc_ir += (ir - self._dc_ir) * self.alpha
        self._dc_red += (red - self._dc_red) * self.alpha
        ac_ir = self._dc_ir - ir
        ac_red = self._dc_red - red
        self._hist.append(ac_ir)
        if len(self._hist) > self.smooth:
            self._hist.pop(0)
        s = sum(self._hist) / len(self._hist)
        self._on += 1
        if self._on <= self.settle:
            self._prev = s
            return
        self._amp = max(self._amp * self.decay, abs(s))
        cycle = self._cycle
        if cycle is not None:
            if ac_red < cycle[0]:
                cycle[0] = ac_red
            if ac_red > cycle[1]:
                cycle[1] = ac_red
            if ac_ir < cycle[2]:
                cycle[2] = ac_ir
            if ac_ir > cycle[3]:
                cycle[3] = ac_ir
        th = 0.3 * self._amp
        t = self._on - 1
        if (
            self._armed
            and self._prev < th <= s
            and (self._last_beat is None or t - self._last_beat >= self.refractory)
        ):
            beat = t - 1 + (th - self._prev) / (s - self._prev)
            if self._last_beat is not None and cycle is not None and cycle[3] > cycle[2]:
                p2p_ir = cycle[3] - cycle[2]
                ratio = ((cycle[1] - cycle[0]) / self._dc_red) / (p2p_ir / self._dc_ir)
                self.beats.append((beat - self._last_beat, ratio, p2p_ir))
            self._last_beat = beat
            self._armed = False
            self._cycle = [ac_red, ac_red, ac_ir, ac_ir]
        elif s < -th:
            self._armed = True
        self._prev = s

    def finger_off(self):
        return self.n == 0 or self.off > self.n * MAX_OFF_FRACTION

    def result(self):
        """(bpm, spo2 or None), or None when the finger was off or no pulse was found."""
        if self.finger_off() or not self.beats:
            return None
        # motion only adds swing, so the typical pulse is among the smaller beats;
        # a beat far bigger or smaller than that is motion, not pulse
        sizes = sorted([b[2] for b in self.beats])
        typical = sizes[len(sizes) * 3 // 10]
        lo = self.rate * 60.0 / MAX_BPM
        hi = self.rate * 60.0 / MIN_BPM
        good = [b for b in self.beats if lo <= b[0] <= hi and typical / 2 <= b[2] <= typical * 2]
        covered = 0
        for b in good:
            covered += b[0]
        if len(good) < 2 or covered < (self.n - self.off) * MIN_CLEAN_FRACTION:
            return None  # too much of the window was motion to trust a number
        bpm = 60.0 * self.rate / median([b[0] for b in good])
        return bpm, spo2_from_ratio(median([b[1] for b in good]))
