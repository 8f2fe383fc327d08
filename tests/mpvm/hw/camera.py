"""Simulated ``camera`` of the ESP32-CAM firmware: capture() returns a copy of a JPEG."""

JPEG = 4
PSRAM = 1
DRAM = 0
FRAME_VGA = 10
FRAME_FILE = "/frame.jpg"  # the JPEG the sensor "sees", outside the heap like PSRAM
_ready = False


def init(id, format=JPEG, fb_location=DRAM, **kw):
    global _ready
    if _ready:
        raise OSError("camera already initialised")
    _ready = True
    return True


def deinit():
    global _ready
    if not _ready:
        raise OSError("camera not initialised")
    _ready = False


def framesize(size):
    pass


def quality(q):
    if not 10 <= q <= 63:
        raise ValueError("quality out of range")


def capture():
    if not _ready:
        raise OSError("camera not initialised")
    with open(FRAME_FILE, "rb") as f:
        return f.read()  # the driver copies the frame buffer onto the heap
