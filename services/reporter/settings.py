"""The reporter's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.errors import ConfigError
from services.common.influx import InfluxSettings
from services.common.settings import MqttSettings, env_int, env_str

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class Settings:
    """Where reports go, which fonts they use, and how much one request may ask for."""

    data_dir: Path = Path("data")
    timezone: str = "UTC"
    font: Path = DEJAVU / "DejaVuSans.ttf"
    font_bold: Path = DEJAVU / "DejaVuSans-Bold.ttf"
    fallback_fonts: tuple[Path, ...] = ()
    max_days: int = 366
    queue_size: int = 32
    news2_alert_score: int = 5
    rollup_days: int = 31
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    influx: InfluxSettings = field(default_factory=InfluxSettings)

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def web_database(self) -> Path:
        """The web service's SQLite file (read only here)."""
        return self.data_dir / "web.sqlite3"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        timezone = env_str(env, "REPORT_TIMEZONE", "UTC")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"REPORT_TIMEZONE is not a known time zone: {timezone!r}") from exc
        font = Path(env_str(env, "REPORT_FONT", str(cls.font)))
        bold = Path(env_str(env, "REPORT_FONT_BOLD", str(cls.font_bold)))
        fallbacks = tuple(
            Path(p) for p in (env_str(env, "REPORT_FALLBACK_FONTS", "") or "").split(":") if p
        )
        for path in (font, bold, *fallbacks):
            if not path.is_file():
                raise ConfigError(
                    f"font {path} not found: install fonts-dejavu-core or set REPORT_FONT,"
                    " REPORT_FONT_BOLD and REPORT_FALLBACK_FONTS to TrueType files"
                )
        return cls(
            data_dir=Path(env_str(env, "SMARTCAB_DATA_DIR", "data")),
            timezone=timezone,
            font=font,
            font_bold=bold,
            fallback_fonts=fallbacks,
            max_days=env_int(env, "REPORT_MAX_DAYS", 366, minimum=1),
            queue_size=env_int(env, "REPORT_QUEUE_SIZE", 32, minimum=1),
            news2_alert_score=env_int(env, "ALERT_NEWS2_SCORE", 5, minimum=1),
            rollup_days=env_int(env, "REPORT_ROLLUP_DAYS", 31, minimum=0),
            mqtt=MqttSettings.from_env(env),
            influx=InfluxSettings.from_env(env),
        )
