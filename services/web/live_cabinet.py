"""Cabinets and cameras as the web follows them: item counts, fresh snapshots, command answers."""

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from services.common import logs

log = logging.getLogger(__name__)


class InventoryCache:
    """Each cabinet's last inventory report."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[str, dict] = {}

    def update(self, device: str, payload: bytes) -> dict | None:
        """Keep a report ``{"device", "items", "ts"}``; None (nothing kept) if malformed."""
        try:
            body = json.loads(payload)
            items = {str(k): int(v) for k, v in body["items"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        report = {"device": device, "items": items, "ts": body.get("ts")}
        with self._lock:
            self._reports[device] = report
        return report

    def get(self, device: str) -> dict | None:
        with self._lock:
            found = self._reports.get(device)
            return dict(found) if found else None


class GalleryWriter:
    """Keeps fresh camera frames in the gallery of the patient the camera belongs to."""

    def __init__(self, gallery) -> None:
        self.gallery = gallery  # services.web.gallery.Gallery, which locks its own folders

    def save(self, owner: str | None, device: str, jpeg: bytes, retained: bool) -> dict | None:
        """The frame kept, or None: not fresh, no owner, a repeat, or the disk refused it."""
        # A retained frame (delivered when the web subscribes) may predate the camera's
        # current assignment, and has no capture time to tell: only fresh frames are
        # kept, each for the patient the camera belongs to as it arrives.
        if self.gallery is None or not jpeg or retained or owner is None:
            return None
        try:
            return self.gallery.save(owner, device, jpeg)
        except OSError as exc:  # a full disk must not stop live updates
            logs.event(log, logging.ERROR, "web.snapshot_not_saved", device=device, error=exc)
            return None


@dataclass(eq=False)
class CommandWaiter:
    """A request thread waiting for a device's answer to one command."""

    cmd: str
    done: threading.Event = field(default_factory=threading.Event)
    result: dict | None = None


class CommandRoundTrips:
    """Request threads waiting for the gateway's ``cmd/result``, matched by device and command."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, list[CommandWaiter]] = {}

    def send_and_wait(
        self, device: str, cmd: str, send: Callable[[], object], timeout: float
    ) -> dict | None:
        """Call ``send``, then wait for the answer; None if none came within ``timeout``."""
        waiter = CommandWaiter(cmd)
        # Waiting before sending: an answer that beats this thread back still finds it.
        with self._lock:
            self._waiters.setdefault(device, []).append(waiter)
        try:
            send()
            waiter.done.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(device, [])
                if waiter in waiting:
                    waiting.remove(waiter)
                if not waiting:
                    self._waiters.pop(device, None)
        return waiter.result

    def answer(self, device: str, payload: bytes) -> dict | None:
        """Hand a ``cmd/result`` to its oldest waiter; the result, or None if malformed."""
        try:
            body = json.loads(payload)
            result = {
                "device": device,
                "cmd": str(body["cmd"]),
                "ok": bool(body["ok"]),
                "error": body.get("error"),
            }
        except (ValueError, KeyError, TypeError):
            return None
        with self._lock:
            waiting = self._waiters.get(device, [])
            waiter = next((w for w in waiting if w.cmd == result["cmd"]), None)
            if waiter is not None:
                waiting.remove(waiter)
        if waiter is not None:
            waiter.result = result
            waiter.done.set()
        return result
