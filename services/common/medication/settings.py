"""What the web, the dose tracker and the reporter agree on about medications."""

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.errors import ConfigError
from services.common.settings import read_env, setting

from . import MedicationError
from .schedule import zone


@dataclass(frozen=True)
class MedicationSettings:
    """The deployment's time zone for schedules, and when a refill alert is raised."""

    timezone: str = setting(
        "REPORT_TIMEZONE",
        "UTC",
        "the deployment's time zone: a medication's times of day are read in it unless the"
        " patient set their own (so are their habit days and report days)",
    )
    refill_days: float = setting(
        "MEDS_REFILL_DAYS",
        7.0,
        "days before a medication's stock runs out that a refill alert is raised; `0` = off",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "MedicationSettings":
        settings = read_env(cls, env)
        try:
            zone(settings.timezone)
        except MedicationError as exc:
            raise ConfigError(f"REPORT_TIMEZONE: {exc}") from exc
        return settings
