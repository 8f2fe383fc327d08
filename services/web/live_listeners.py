"""The open live streams: one bounded queue each, and the fan-out of events to them.

Each listener has its own bounded queue: a slow browser loses its stream (and
reloads its data) instead of holding up everyone else.
"""

import contextlib
import queue
import threading
from dataclasses import dataclass, field

from .errors import WebError

QUEUE_SIZE = 200
PER_SESSION = 4
PER_USER = 8  # several sessions (phone, laptop) of one person together


class TooManyListeners(WebError):
    """The web process already serves as many live streams as it is configured for."""


@dataclass(eq=False)
class Listener:
    """One SSE stream's queue of (event, data) pairs."""

    patient: str
    session: str = ""
    user: int | None = None
    opened: int = 0  # order of opening, to find a session's oldest stream
    events: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=QUEUE_SIZE))
    overflowed: bool = False
    closed: bool = False

    def offer(self, event: str, data: dict) -> None:
        if self.overflowed:
            return
        try:
            self.events.put_nowait((event, data))
        except queue.Full:
            self.overflowed = True

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(("close", {}))


class Listeners:
    """Every open stream: at most ``limit``, ``PER_SESSION`` per session, ``PER_USER`` per user."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open: set[Listener] = set()
        self._opened = 0

    def listen(self, patient: str, session: str = "", user: int | None = None) -> Listener:
        """A new stream; past its session's or user's share, their oldest stream is closed."""
        evicted = []
        with self._lock:
            # A few tabs per session are normal; more would starve other people's streams.
            # The server only notices a page that was left at its next write, so a
            # session's newest page replaces its oldest stream instead of being refused.
            # Per user as well, or one person signing in many times holds every slot.
            for same, cap in (
                (lambda x: session and x.session == session, PER_SESSION),
                (lambda x: user is not None and x.user == user, PER_USER),
            ):
                mine = [x for x in self._open if same(x)]
                if len(mine) >= cap:
                    oldest = min(mine, key=lambda x: x.opened)
                    self._open.discard(oldest)
                    evicted.append(oldest)
            if len(self._open) >= self.limit:
                raise TooManyListeners("too many live streams; retry shortly")
            self._opened += 1
            listener = Listener(patient, session, user, opened=self._opened)
            self._open.add(listener)
        for old in evicted:
            old.close()
        return listener

    def end_session(self, session: str) -> None:
        """Close the streams opened by a session that just signed out."""
        with self._lock:
            ending = [x for x in self._open if x.session == session]
        for listener in ending:
            listener.close()

    def close_all(self) -> None:
        with self._lock:
            listeners = list(self._open)
        for listener in listeners:
            listener.close()

    def count(self) -> int:
        with self._lock:
            return len(self._open)

    def forget(self, listener: Listener) -> None:
        with self._lock:
            self._open.discard(listener)

    def fan_out(self, patient: str | None, event: str, data: dict) -> None:
        """Offer the event to each stream following ``patient``."""
        if not patient:
            return
        with self._lock:
            targets = [x for x in self._open if x.patient == patient]
        for listener in targets:
            listener.offer(event, data)
