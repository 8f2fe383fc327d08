"""Camera snapshots kept on disk: the newest few per device, older ones deleted."""

import hashlib
import os
import re
import threading
import time
from pathlib import Path

NAME_RE = re.compile(r"^(\d{13})-([0-9a-f]{12})\.jpg$")
# Device ids become folder names: nothing that could climb out of the gallery.
DEVICE_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


class Gallery:
    """``<root>/<device>/<ms>-<hash>.jpg``; a frame equal to the newest one is not kept twice."""

    def __init__(self, root: Path, keep: int) -> None:
        self.root = root
        self.keep = keep
        self._lock = threading.Lock()

    def _dir(self, device: str) -> Path | None:
        return self.root / device if DEVICE_RE.match(device) else None

    def save(self, device: str, jpeg: bytes, ts_ms: int | None = None) -> dict | None:
        """Store a frame; None when it repeats the newest (a retained copy after a reconnect)."""
        folder = self._dir(device)
        if not jpeg or folder is None:
            return None
        digest = hashlib.sha256(jpeg).hexdigest()[:12]
        with self._lock:
            kept = self.frames(device)
            if kept and kept[0]["hash"] == digest:
                return None
            ts_ms = ts_ms or int(time.time() * 1000)
            if kept and ts_ms <= kept[0]["ts"]:
                ts_ms = kept[0]["ts"] + 1
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{ts_ms:013d}-{digest}.jpg"
            tmp = folder / f".{name}.tmp"
            tmp.write_bytes(jpeg)
            os.replace(tmp, folder / name)
            for old in self.frames(device)[self.keep :]:
                (folder / old["name"]).unlink(missing_ok=True)
        return {"device": device, "name": name, "ts": ts_ms}

    def frames(self, device: str) -> list[dict]:
        """The kept frames, newest first."""
        folder = self._dir(device)
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in folder.iterdir():
            match = NAME_RE.match(path.name)
            if match:
                found.append({"name": path.name, "ts": int(match[1]), "hash": match[2]})
        return sorted(found, key=lambda f: f["ts"], reverse=True)

    def path(self, device: str, name: str) -> Path | None:
        """The file of a kept frame, or None for any name that is not one."""
        folder = self._dir(device)
        if folder is None or not NAME_RE.match(name):
            return None
        path = folder / name
        return path if path.is_file() else None
