"""Per-user limits on costly actions: reports, large exports, device commands, messages out.

Counted in memory (one web process serves the dashboard): a restart forgets the
counts, which only ever lets someone in earlier, never locks them out.
"""

import collections
import threading
import time
from dataclasses import dataclass

from .errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """At most ``count`` uses within ``window`` seconds; ``what`` names it in the refusal."""

    count: int
    window: float
    what: str


LIMITS = {
    "report": Limit(10, 3600, "report requests"),
    "export": Limit(20, 3600, "large exports"),
    "command": Limit(30, 60, "device commands"),
    # each sends a message to an address the user typed: not a way to spam anyone
    "outbound": Limit(20, 3600, "test messages and invitations"),
}


class RateLimits:
    """Sliding windows per (action, user)."""

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = dict(LIMITS if limits is None else limits)
        self._lock = threading.Lock()
        self._uses: dict[tuple[str, int], collections.deque] = {}

    def take(self, action: str, user_id: int) -> None:
        """Count one use, or raise RateLimited (HTTP 429) saying when to try again."""
        limit = self.limits[action]
        now = time.monotonic()
        with self._lock:
            uses = self._uses.setdefault((action, user_id), collections.deque())
            while uses and uses[0] <= now - limit.window:
                uses.popleft()
            if len(uses) >= limit.count:
                wait = int(uses[0] + limit.window - now) + 1
                raise RateLimited(
                    f"Too many {limit.what}: at most {limit.count} in {_span(limit.window)}."
                    f" Try again in {_span(wait)}.",
                    retry_after=wait,
                )
            uses.append(now)


def _span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return "an hour" if hours == 1 else f"{hours} hours"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
