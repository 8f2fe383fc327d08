"""The demo camera's first snapshot: asked for the way the dashboard's "Take photo" asks."""

import time
from pathlib import Path

from services.common.topics import ONLINE, Topics
from services.web.gallery import Gallery

from . import CAMERA, PATIENT
from .accounts import DemoError
from .broker import Broker

ASK_EVERY = 5.0  # seconds between `img` requests while the camera is still registering


def seed(broker: Broker, topics: Topics, gallery_dir: Path, timeout: float) -> bool:
    """Ask the camera for a photo unless the patient has one; True once the web kept it."""
    gallery = Gallery(gallery_dir, keep=1)  # only read here: the web keeps the frames
    owner = PATIENT[0]
    if gallery.frames(owner, CAMERA):
        return False
    for ready in (topics.device_status(CAMERA), topics.service_status("web")):
        broker.watch(ready)
        if not broker.wait_for(ready, ONLINE.encode(), timeout):
            raise DemoError(f"no snapshot: {ready} did not say online")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        broker.flush([broker.publish(topics.cmd(CAMERA), "img")], timeout)
        asked = time.monotonic()
        while time.monotonic() - asked < ASK_EVERY:
            if gallery.frames(owner, CAMERA):
                return True
            time.sleep(0.2)
    raise DemoError("the camera's snapshot did not arrive")
