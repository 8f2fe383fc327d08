"""Camera snapshots kept on disk: the newest few per patient and camera, older ones deleted."""

import hashlib
import os
import re
import threading
import time
from pathlib import Path

NAME_RE = re.compile(r"^(\d{13})-([0-9a-f]{12})\.jpg$")
# Patient and device ids become folder names: nothing that could climb out of the gallery.
SAFE_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")


class Gallery:
    """``<root>/<patient>/<device>/<ms>-<hash>.jpg``; a repeat of the newest is not kept twice.

    Frames belong to the patient the camera was assigned to when they were taken: a
    camera given to someone else starts an empty gallery, and its former owner's
    frames are never shown to the new one.
    """

    def __init__(self, root: Path, keep: int) -> None:
        self.root = root
        self.keep = keep
        self._lock = threading.Lock()

    def _dir(self, owner: str, device: str) -> Path | None:
        if SAFE_RE.match(owner) and SAFE_RE.match(device):
            return self.root / owner / device
        return None

    def save(self, owner: str, device: str, jpeg: bytes, ts_ms: int | None = None) -> dict | None:
        """Store a frame of ``owner``'s camera; None when it repeats the newest."""
        folder = self._dir(owner, device)
        if not jpeg or folder is None:
            return None
        digest = hashlib.sha256(jpeg).hexdigest()[:12]
        with self._lock:
            kept = self.frames(owner, device)
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
            for old in self.frames(owner, device)[self.keep :]:
                (folder / old["name"]).unlink(missing_ok=True)
        return {"device": device, "name": name, "ts": ts_ms}

    def frames(self, owner: str, device: str) -> list[dict]:
        """The frames kept for ``owner`` from this camera, newest first."""
        folder = self._dir(owner, device)
        if folder is None or not folder.is_dir():
            return []
        found = []
        for path in folder.iterdir():
            match = NAME_RE.match(path.name)
            if match:
                found.append({"name": path.name, "ts": int(match[1]), "hash": match[2]})
        return sorted(found, key=lambda f: f["ts"], reverse=True)

    def path(self, owner: str, device: str, name: str) -> Path | None:
        """The file of a frame kept for ``owner``, or None for any name that is not one."""
        folder = self._dir(owner, device)
        if folder is None or not NAME_RE.match(name):
            return None
        path = folder / name
        return path if path.is_file() else None
