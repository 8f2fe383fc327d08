"""Timestamps as the topics carry them: RFC 3339, UTC, milliseconds."""

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def rfc3339_ms(epoch_ms: int) -> str:
    """``1700000000123`` -> ``2023-11-14T22:13:20.123Z``."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse a timestamp written by ``rfc3339_ms`` (or any ISO 8601 with offset)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text!r}")
    return moment.astimezone(UTC)


class MonotonicClock:
    """Milliseconds that never repeat or go back for one key.

    The gateway stamps each reading on receipt; InfluxDB keys a point by its
    time, so two readings of one device in the same millisecond must differ.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def stamp(self, key: str) -> int:
        ms = now_ms()
        last = self._last.get(key, 0)
        if ms <= last:
            ms = last + 1
        self._last[key] = ms
        return ms

    def forget(self, key: str) -> None:
        self._last.pop(key, None)
