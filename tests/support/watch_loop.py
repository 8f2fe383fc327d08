"""A firmware-faithful watch answering the scheduler's ``bpm`` on a thread, and checks that
InfluxDB holds each of its readings exactly once."""

import threading

from .net import wait_until
from .seed_clients import SeedWatch


class WatchLoop:
    """A SeedWatch answering every ``bpm`` on a thread with a new, distinct pair of values."""

    def __init__(self, port: int, name: bytes = b"wch-01") -> None:
        self.name = name.decode()
        self.watch = SeedWatch(port, name)
        self.watch.sock.settimeout(0.2)  # so the loop notices stop() quickly
        self.rounds = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "WatchLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.watch.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            k = self.count() + 1
            try:
                data = self.watch.serve_once(60 + k, 36 + k / 100)
            except TimeoutError:
                continue
            except OSError:
                return
            if data == b"bpm":
                with self._lock:
                    self.rounds = k

    def count(self) -> int:
        with self._lock:
            return self.rounds

    def wait_rounds(self, n: int, timeout: float = 15.0) -> int:
        target = self.count() + n
        wait_until(lambda: self.count() >= target, timeout, what=f"{n} more bpm requests")
        return self.count()

    def expected(self, rounds: int) -> set[tuple[str, float]]:
        return {("heart_rate", 60.0 + k) for k in range(1, rounds + 1)} | {
            ("temperature", round(36 + k / 100, 2)) for k in range(1, rounds + 1)
        }


def stored(influxdb, device: str = "wch-01") -> list[tuple[str, float]]:
    """The (metric, value) of every vitals point of ``device``."""
    rows = influxdb.rows(f"SELECT value, metric FROM vitals WHERE device = '{device}'")
    return [(row["metric"], round(row["value"], 2)) for row in rows]


def wait_stored(influxdb, watch: WatchLoop, timeout: float = 20.0) -> list[tuple[str, float]]:
    """Wait until InfluxDB holds at least what the watch has sent so far."""
    rounds = watch.count()
    expected = watch.expected(rounds)

    def complete():
        try:
            got = stored(influxdb, watch.name)
        except OSError:
            return None
        return got if set(got) >= expected else None

    got = wait_until(complete, timeout, interval=0.2, what=f"{2 * rounds} readings in InfluxDB")
    return got


def assert_exactly_once(got: list[tuple[str, float]], watch: WatchLoop) -> None:
    """Every reading the watch gave is stored, none twice, nothing it did not give."""
    rounds = watch.count()
    # The watch may have answered one more request while we were reading.
    allowed = watch.expected(watch.count())
    assert len(got) == len(set(got)), "a reading was stored twice"
    assert set(got) <= allowed
    assert set(got) >= watch.expected(rounds)
