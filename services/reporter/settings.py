"""The reporter's settings, read once from the environment."""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.alerts import AlertSettings
from services.common.database import DATABASE_FILE, Database, url_setting
from services.common.errors import ConfigError
from services.common.influx import InfluxSettings
from services.common.settings import (
    MqttSettings,
    data_dir_setting,
    read_env,
    reports_dir,
    reports_dir_setting,
    section,
    setting,
)

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_NEWS2 = next(f for f in dataclasses.fields(AlertSettings) if f.name == "news2_alert_score")


@dataclass(frozen=True)
class Settings:
    """Where reports go, which fonts they use, and how much one request may ask for."""

    data_dir: Path = data_dir_setting()
    database_url: str = url_setting()
    reports_folder: str | None = reports_dir_setting()
    timezone: str = setting(
        "REPORT_TIMEZONE",
        "UTC",
        "the deployment's IANA time zone: a report's days, weeks, `--days` and times for a"
        " patient who set none of their own (theirs is used where they did)",
    )
    font: Path = setting("REPORT_FONT", DEJAVU / "DejaVuSans.ttf", "TrueType font embedded in PDFs")
    font_bold: Path = setting("REPORT_FONT_BOLD", DEJAVU / "DejaVuSans-Bold.ttf", "its bold face")
    fallback_fonts: tuple[Path, ...] = setting(
        "REPORT_FALLBACK_FONTS",
        (),
        "TrueType files for characters DejaVu lacks (e.g. a Noto CJK font)",
    )
    max_days: int = setting(
        "REPORT_MAX_DAYS", 366, "the longest period one request may cover", minimum=1
    )
    queue_size: int = setting(
        "REPORT_QUEUE_SIZE", 32, "requests waiting before new ones are answered `busy`", minimum=1
    )
    news2_alert_score: int = setting(
        _NEWS2.metadata["env"],
        _NEWS2.default,
        "the partial score a report counts as at or above the alert level (the recorder's)",
        minimum=_NEWS2.metadata["minimum"],
    )
    rollup_days: int = setting(
        "REPORT_ROLLUP_DAYS",
        31,
        "days of hourly vitals rollups kept ready in the background, so month reports stay"
        " quick; `0` = computed only when a report needs them",
        minimum=0,
    )
    mqtt: MqttSettings = section(MqttSettings)
    influx: InfluxSettings = section(InfluxSettings)

    @property
    def reports_dir(self) -> Path:
        """The only folder the reporter writes to."""
        return reports_dir(self.data_dir, self.reports_folder)

    @property
    def web_database(self) -> Path:
        """The web service's SQLite file (read only here)."""
        return self.data_dir / DATABASE_FILE

    @property
    def app_database(self) -> Database:
        """The web's database, read only: PostgreSQL when DATABASE_URL is set, else the file."""
        return Database.choose(self.database_url, self.web_database, read_only=True)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def in_zone(self, timezone: str) -> "Settings":
        """These settings with a patient's own time zone: their report's days are theirs."""
        return self if timezone == self.timezone else dataclasses.replace(self, timezone=timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        settings = read_env(cls, env)
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"REPORT_TIMEZONE is not a known time zone: {settings.timezone!r}"
            ) from exc
        for path in (settings.font, settings.font_bold, *settings.fallback_fonts):
            if not path.is_file():
                raise ConfigError(
                    f"font {path} not found: install fonts-dejavu-core or set REPORT_FONT,"
                    " REPORT_FONT_BOLD and REPORT_FALLBACK_FONTS to TrueType files"
                )
        return settings
