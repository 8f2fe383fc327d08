"""Simulated ``machine`` for the MicroPython VM: Pin levels, WDT, an I2C bus of chips.

Calls take the arguments the ESP32 port takes and fail the same way: a pin number
out of range is a ValueError, an I2C address nobody answers is OSError(19).
"""

PIN_COUNT = 40
levels = {}  # pin number -> level the outside world drives (tests set these)
chips = {}  # I2C address -> simulated chip with read(reg, n) and write(reg, value)
watchdogs = []


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if not isinstance(id, int) or not 0 <= id < PIN_COUNT:
            raise ValueError("invalid pin")
        self.id = id
        self.mode = mode
        self.pull = pull
        if value is not None:
            levels[id] = 1 if value else 0

    def value(self, v=None):
        if v is None:
            if self.id in levels:
                return levels[self.id]
            return 1 if self.pull == Pin.PULL_UP else 0
        levels[self.id] = 1 if v else 0
        return None


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("timeout too small")
        self.timeout = timeout
        self.feeds = 0
        watchdogs.append(self)

    def feed(self):
        self.feeds += 1


class I2C:
    def __init__(self, id=-1, *, scl=None, sda=None, freq=400000, timeout=50000):
        if id not in (-1, 0, 1):
            raise ValueError("I2C(%d) doesn't exist" % id)
        if scl is None or sda is None:
            raise TypeError("scl and sda are required")
        self.freq = freq

    def _chip(self, addr):
        chip = chips.get(addr)
        if chip is None:
            raise OSError(19)  # ENODEV, as the ESP32 port reports a missing device
        return chip

    def scan(self):
        return sorted(chips)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return bytes(self._chip(addr).read(memaddr, nbytes))

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        chip = self._chip(addr)
        for i in range(len(buf)):
            chip.write(memaddr + i, buf[i])


def reset():
    raise SystemExit("machine.reset()")
