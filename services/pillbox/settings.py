"""The dose tracker's settings, read once from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.database import DATABASE_FILE, Database, url_setting
from services.common.medication.settings import MedicationSettings
from services.common.settings import MqttSettings, data_dir_setting, read_env, section, setting


@dataclass(frozen=True)
class Settings:
    """How often doses are checked, and how far back a restarted tracker looks."""

    data_dir: Path = data_dir_setting()
    database_url: str = url_setting()
    tick: float = setting(
        "PILLBOX_TICK",
        5.0,
        "seconds between checks for cues to light and doses missed",
        minimum=0.05,
    )
    settle: float = setting(
        "PILLBOX_SETTLE",
        3.0,
        "seconds after connecting before closed windows are called missed, so inventory"
        " changes the broker kept for us arrive first",
    )
    lookback_hours: float = setting(
        "PILLBOX_LOOKBACK_HOURS",
        24.0,
        "how far back a restarted tracker decides doses it has not decided yet",
        minimum=0.01,
    )
    medication: MedicationSettings = section(MedicationSettings)
    mqtt: MqttSettings = section(MqttSettings)

    @property
    def database(self) -> Database:
        """The web's database, where the medications and doses live."""
        return Database.choose(self.database_url, self.data_dir / DATABASE_FILE)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        return read_env(cls, env)
