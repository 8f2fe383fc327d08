"""The scheduler's settings, read once from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.settings import MqttSettings, read_env, section, setting

# A part of the interval is at least a tenth of a second (the job wakes no more often)
# and there are at most 300 of them (a 30 s interval: every 0.1 s, a 300th of the watches).
MIN_SLICE = 0.1
MAX_SLOTS = 300


@dataclass(frozen=True)
class Settings:
    """Intervals in seconds; 0 turns the inventory, snapshot or weekly-report job off."""

    bpm_interval: float = setting(
        "SCHEDULER_BPM_INTERVAL",
        30.0,
        "seconds between `bpm` requests to each online watch (a watch that reported within"
        " the interval is skipped)",
        minimum=0.1,
    )
    bpm_spread: bool = setting(
        "SCHEDULER_BPM_SPREAD",
        True,
        "`1`: spread the `bpm` requests evenly over the interval, each watch at a fixed"
        " offset from its id (still once per interval); `0`: ask every watch at once",
    )
    inventory_interval: float = setting(
        "SCHEDULER_INVENTORY_INTERVAL",
        300.0,
        "seconds between `inv` requests to cabinets; `0` = off",
    )
    snapshot_interval: float = setting(
        "SCHEDULER_SNAPSHOT_INTERVAL", 0.0, "seconds between `img` requests to cameras; `0` = off"
    )
    report_interval: float = setting(
        "SCHEDULER_REPORT_INTERVAL",
        3600.0,
        "seconds between checks for due weekly reports; `0` = off",
    )
    mqtt: MqttSettings = section(MqttSettings)

    @property
    def answer_window(self) -> float:
        """How long after our ``bpm`` a reading still counts as its answer."""
        return min(self.bpm_interval / 2, 20.0)

    @property
    def bpm_slots(self) -> int:
        """How many parts the interval is cut into; each watch is asked in one of them."""
        if not self.bpm_spread:
            return 1
        return max(1, min(MAX_SLOTS, int(self.bpm_interval / MIN_SLICE)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        return read_env(cls, env)
