"""Register-level MAX30102 and MLX90614 on a virtual millisecond clock (``clock[0]``)."""

import math

from smartcab import max30102, mlx90614

clock = [0]  # ms; the test advances it between steps


class Max30102:
    """SpO2 mode, a 32-sample roll-over FIFO filled with a pulse at ``bpm``."""

    def __init__(self, bpm=72.0, spo2=97.0, finger=True):
        self.regs = bytearray(256)
        self.regs[max30102.REG_PART_ID] = max30102.PART_ID
        self.bpm = bpm
        self.finger = finger
        a, b, c = -45.060, 30.354, 94.845 - spo2
        self.ratio = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
        self.fifo = []
        self.overflow = 0
        self.running = False
        self.last = 0
        self.n = 0
        self.seed = 12345

    def _noise(self):
        self.seed = (self.seed * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.seed >> 16) % 41 - 20

    def rate(self):
        sr = self.regs[max30102.REG_SPO2_CONFIG] >> 2 & 7
        avg = self.regs[max30102.REG_FIFO_CONFIG] >> 5 & 7
        return (50 << sr if sr < 5 else 1000) // (1 << avg)

    def write(self, reg, value):
        if reg == max30102.REG_MODE_CONFIG:
            if value & max30102.MODE_RESET:
                self.regs[0:255] = bytes(255)
                self.fifo = []
                self.running = False
                return
            was = self.running
            self.running = value & 7 == max30102.MODE_SPO2 and not value & 0x80
            if self.running and not was:
                self.last = clock[0]
        elif reg in (max30102.REG_FIFO_WR_PTR, max30102.REG_FIFO_RD_PTR):
            self.fifo = []
        self.regs[reg] = value

    def _generate(self):
        if not self.running:
            return
        rate = self.rate()
        count = (clock[0] - self.last) * rate // 1000
        self.last += count * 1000 // rate
        for _ in range(count):
            self.n += 1
            if self.finger:
                phase = (self.n * self.bpm / 60.0 / rate) % 1.0
                p = phase / 0.15 if phase < 0.15 else math.exp(-(phase - 0.15) * 5.0)
                ir = int(120000 * (1 - 0.015 * p)) + self._noise()
                red = int(90000 * (1 - 0.015 * self.ratio * p)) + self._noise()
            else:
                ir = 1500 + self._noise()
                red = 1200 + self._noise()
            self.fifo.append((red, ir))
            if len(self.fifo) > max30102.FIFO_DEPTH:
                self.fifo.pop(0)
                self.overflow += 1

    def read(self, reg, n):
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


class Mlx90614:
    """Object and ambient temperatures as RAM words with a valid PEC."""

    def __init__(self, celsius=36.6, ambient=23.5):
        self.celsius = celsius
        self.ambient = ambient

    def read(self, reg, n):
        if reg == mlx90614.REG_TOBJ1:
            raw = mlx90614.celsius_to_raw(self.celsius)
        elif reg == mlx90614.REG_TA:
            raw = mlx90614.celsius_to_raw(self.ambient)
        else:
            return bytes(n)
        lsb, msb = raw & 0xFF, raw >> 8
        a = mlx90614.ADDR
        pec = mlx90614.crc8((a << 1, reg, (a << 1) | 1, lsb, msb))
        return bytes((lsb, msb, pec))[:n]

    def write(self, reg, value):
        pass
