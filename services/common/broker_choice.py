"""Which node of ``MQTT_HOSTS`` the MQTT client tries next, and how long it waits first.

Both ways of driving the client (paho's own thread and the asyncio driver) ask this one
policy, so every service fails over alike.
"""

# Seconds between connection attempts: the next node of a cluster is tried after the
# shortest wait; only once every node has failed does the wait grow, up to the longest.
RETRY_MIN = 1.0
RETRY_MAX = 10.0
# Seconds a client with several nodes waits for a node's CONNACK before trying the next.
CONNACK_WAIT = 1.5


class BrokerChoice:
    """The node in use (or being tried) among ``count``, and the wait before the next."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.index = 0
        self._tried = 0  # nodes tried since the last accepted connection
        self._delay = RETRY_MIN  # the wait once every node has failed in a row

    def after(self, accepted: bool, spent: float) -> float:
        """Move to the next node after an attempt that took ``spent`` seconds; the wait.

        ``accepted``: the node took the connection and it was lost later; the next node
        is tried at once, the lost one counting as tried. A failed attempt's wait is
        the shortest while nodes are left untried this round, then the growing one; an
        attempt that hung has waited already.
        """
        self.index = (self.index + 1) % self.count
        if accepted:
            self._tried, self._delay = 1, RETRY_MIN
            return 0.0
        self._tried += 1
        wait = RETRY_MIN
        if self._tried >= self.count:  # every node failed this round: wait longer
            self._tried, wait = 0, self._delay
            self._delay = min(self._delay * 2, RETRY_MAX)
        return max(0.0, wait - spent)
