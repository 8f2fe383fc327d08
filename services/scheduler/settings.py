"""The scheduler's settings, read once from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.settings import MqttSettings, read_env, section, setting


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        return read_env(cls, env)
