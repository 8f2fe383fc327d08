"""The capacity bench's pure parts: reading /proc, judging a step, finding the knee."""

import math
from dataclasses import dataclass, field

LATENCY_TARGET_MS = 500.0
CADENCE_FLOOR = 0.9  # readings taken / readings due: below it the watches were not served


def cpu_ticks(stat: str) -> int:
    """utime + stime, in clock ticks, from the text of ``/proc/<pid>/stat``."""
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after
    # the last one. utime and stime are fields 14 and 15, so 12 and 13 after the name.
    rest = stat[stat.rindex(")") + 2 :].split()
    return int(rest[11]) + int(rest[12])


def machine_ticks(stat: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs together, from the text of ``/proc/stat``."""
    fields = [int(x) for x in stat.splitlines()[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


def rss_kib(status: str) -> int:
    """VmRSS in KiB from the text of ``/proc/<pid>/status``."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError("no VmRSS line (the process has exited or is a zombie)")


def p99(samples_ms: list[float]) -> float:
    """The 99th percentile (nearest rank); infinite for no samples."""
    if not samples_ms:
        return math.inf
    ordered = sorted(samples_ms)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass
class Part:
    """One process's share of a step: CPU over the hold (100 = one core) and memory at its end."""

    name: str
    cpu_percent: float
    rss_mib: float


@dataclass
class Step:
    """What one step measured."""

    watches: int  # asked for
    held: int  # connected and registered at the hold's start
    due: float  # readings the cadence asks for during the hold (held x hold / interval)
    taken: int  # readings the watches sent during the hold
    sent: int  # every reading sent so far, counted by the watches
    stored: int  # every reading in InfluxDB after the drain
    p99_ms: float
    requests: int  # latest-reading API calls during the hold
    errors: int  # of them, failed or not 200
    seconds: float  # the hold
    connect_seconds: float = 0.0  # growing to ``watches``
    asked: int = 0  # bpm requests the watches received during the hold
    parts: list[Part] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.sent - self.stored

    @property
    def cadence(self) -> float:
        return self.taken / self.due if self.due else 0.0

    @property
    def per_second(self) -> float:
        return self.taken / self.seconds if self.seconds else 0.0


def failure(step: Step) -> str | None:
    """Why ``step`` does not count as held, or None when it does."""
    reasons = []
    if step.held < step.watches:
        reasons.append(f"only {step.held} of {step.watches} watches connected")
    if step.lost:
        reasons.append(f"{step.lost} readings lost ({step.stored} of {step.sent} stored)")
    if step.cadence < CADENCE_FLOOR:
        reasons.append(
            f"watches not asked at the cadence: {step.taken} readings of {step.due:.0f} due"
        )
    if step.errors:
        reasons.append(f"{step.errors} of {step.requests} latest-reading calls failed")
    if step.p99_ms >= LATENCY_TARGET_MS:
        reasons.append(f"latest-reading p99 {step.p99_ms:.0f} ms >= {LATENCY_TARGET_MS:.0f} ms")
    return "; ".join(reasons) or None


def knee(steps: list[Step]) -> Step | None:
    """The last step held before the first that failed (None if the first failed)."""
    held = None
    for step in steps:
        if failure(step):
            break
        held = step
    return held


LOAD_SIDE = ("watches", "bench", "machine")  # the load generator, and the whole machine


def busiest(step: Step, exclude: tuple[str, ...] = LOAD_SIDE) -> Part | None:
    """The part using the most CPU, leaving out the load generator and the machine total."""
    parts = [p for p in step.parts if not p.name.startswith(exclude)]
    return max(parts, key=lambda p: p.cpu_percent, default=None)


def fill(total: int, per: int) -> list[int]:
    """``total`` watches over gateways of ``per`` each, filled in turn (a share only grows)."""
    if per <= 0:
        raise ValueError("a gateway holds at least one watch")
    full, rest = divmod(total, per)
    return [per] * full + ([rest] if rest else [])


def parse_steps(text: str) -> list[int]:
    """``"1000,2000,5000"`` as rising, positive watch counts."""
    try:
        steps = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"steps must be whole numbers separated by commas, got {text!r}") from None
    if not steps or any(s <= 0 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"steps must be positive and rising, got {text!r}")
    return steps
