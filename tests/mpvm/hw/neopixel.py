"""Simulated ``neopixel``: keeps the pixels and what the last ``write()`` showed."""


class NeoPixel:
    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.n = n
        self.bpp = bpp
        self.buf = [(0, 0, 0)] * n
        self.shown = list(self.buf)
        self.writes = 0

    def __len__(self):
        return self.n

    def __setitem__(self, i, colour):
        r, g, b = colour  # a wrong shape fails here as on the board
        self.buf[i] = (r, g, b)

    def __getitem__(self, i):
        return self.buf[i]

    def write(self):
        self.writes += 1
        self.shown = list(self.buf)
