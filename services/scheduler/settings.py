"""The scheduler's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.common.settings import MqttSettings, env_float


@dataclass(frozen=True)
class Settings:
    """Intervals in seconds; 0 turns the inventory, snapshot or weekly-report job off."""

    bpm_interval: float = 30.0
    inventory_interval: float = 300.0
    snapshot_interval: float = 0.0
    report_interval: float = 3600.0
    mqtt: MqttSettings = field(default_factory=MqttSettings)

    @property
    def answer_window(self) -> float:
        """How long after our ``bpm`` a reading still counts as its answer."""
        return min(self.bpm_interval / 2, 20.0)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            bpm_interval=env_float(env, "SCHEDULER_BPM_INTERVAL", 30.0, minimum=0.1),
            inventory_interval=env_float(env, "SCHEDULER_INVENTORY_INTERVAL", 300.0),
            snapshot_interval=env_float(env, "SCHEDULER_SNAPSHOT_INTERVAL", 0.0),
            report_interval=env_float(env, "SCHEDULER_REPORT_INTERVAL", 3600.0),
            mqtt=MqttSettings.from_env(env),
        )
