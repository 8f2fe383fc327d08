"""The camera (``img``, ESP32-CAM): on ``img``, capture a JPEG and stream it as base64."""

from . import client

JPEG_SOI = b"\xff\xd8"


class Camera:
    """Single-threaded: threads break the ESP32-CAM firmware."""

    kind = "img"

    def __init__(self, cam, raw_chunk=client.B64_RAW_CHUNK):
        self.cam = cam
        self.raw_chunk = max(3, raw_chunk - raw_chunk % 3)  # base64 chunks must join
        self.log = print
        self.frames = 0

    def on_start(self, session, now):
        pass

    def on_command(self, session, name, now):
        if name != "img":
            return
        try:
            frame = self.cam.capture()
        except OSError as exc:
            self.log("camera: capture failed", exc)
            return
        if not frame or bytes(frame[:2]) != JPEG_SOI:
            self.log("camera: capture gave no JPEG")
            return
        self.frames += 1
        session.send_sized(client.b64_size(len(frame)), client.b64_chunks(frame, self.raw_chunk))

    def next_poll(self, now):
        return None

    def poll(self, session, now):
        pass

    def on_disconnect(self):
        pass


class EspCam:
    """The OV2640 through the ``camera`` module of the ESP32-CAM MicroPython firmware."""

    def __init__(self, quality=12, flash_pin=None):
        import camera

        self._camera = camera
        try:
            camera.deinit()  # a soft reset leaves the driver initialised
        except OSError:
            pass
        camera.init(0, format=camera.JPEG, fb_location=camera.PSRAM)
        camera.framesize(camera.FRAME_VGA)
        camera.quality(quality)
        self._flash = None
        if flash_pin is not None:
            from machine import Pin

            self._flash = Pin(flash_pin, Pin.OUT, value=0)

    def capture(self):
        if self._flash:
            self._flash.value(1)
        try:
            return self._camera.capture()
        finally:
            if self._flash:
                self._flash.value(0)


def from_config(cfg, cam):
    return Camera(cam, cfg.get("b64_raw_chunk", client.B64_RAW_CHUNK))
