"""Whether the recorder has the retained patient assignments yet.

A reading is tagged with its device's patient, so it must not be stored before the
assignments are in: after a (re)connect a kept session hands its queued readings over
at once, while the retained assignments come only once the broker has taken the new
subscription. A reading stored untagged and then redelivered (a lost PUBACK, a
failover) would come back tagged: a second series, which InfluxDB does not merge.

The gate closes on every connect and opens once the broker has granted the assignment
subscription (its SUBACK; both Mosquitto and NATS send the retained messages after it)
and no assignment has come for ``settle`` seconds. It also opens ``limit`` seconds after
closing whatever happened, so a subscription that is never granted (a broker account
without read access) delays recording instead of stopping it. Pure logic, on the
writer thread; the caller passes the time.
"""

from dataclasses import dataclass


@dataclass
class AssignmentGate:
    """Closed from a connect until the retained assignments have come and gone quiet."""

    settle: float
    limit: float
    closed_at: float | None = None  # None: open (no connection yet brings anything)
    granted_at: float | None = None  # the assignment subscription's SUBACK
    last_seen: float | None = None  # the latest assignment while closed
    forced: bool = False  # the last opening came from ``limit``, not from the assignments
    waited: float | None = None  # how long the last opening took, until taken()

    def connected(self, now: float) -> None:
        """A new connection: its subscriptions bring the retained assignments again."""
        self.closed_at, self.granted_at, self.last_seen, self.forced = now, None, None, False

    def granted(self, now: float) -> None:
        """The broker took the assignment subscription; the retained ones follow."""
        if self.closed_at is not None:
            self.granted_at = now

    def assignment(self, now: float) -> None:
        """An assignment came: more of the retained burst may be on its way."""
        if self.closed_at is not None:
            self.last_seen = now

    def is_open(self, now: float) -> bool:
        """Open now (opening it, once its time has come)."""
        if self.closed_at is None:
            return True
        if self.granted_at is not None:
            quiet_since = max(self.granted_at, self.last_seen or self.granted_at)
            if now - quiet_since >= self.settle:
                self.waited, self.closed_at = now - self.closed_at, None
                return True
        if now - self.closed_at >= self.limit:
            self.waited, self.closed_at, self.forced = now - self.closed_at, None, True
            return True
        return False

    def taken(self) -> float | None:
        """Seconds the last opening took, once (None when it was said already)."""
        waited, self.waited = self.waited, None
        return waited
