"""The notifier's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import ConfigError
from services.common.settings import MqttSettings, env_float, env_int, env_str
from services.common.smtp import SmtpSettings

# The web's SQLite file under SMARTCAB_DATA_DIR: the care circle and the outbox live there.
DATABASE_FILE = "web.sqlite3"


@dataclass(frozen=True)
class Settings:
    """Every knob of the notifier; docs/notifications.md lists them."""

    client_id: str = "smartcab-notifier"
    data_dir: Path = Path("data")
    base_url: str = "http://localhost:5000"
    workers: int = 4
    tick: float = 1.0
    retry_base: float = 5.0
    retry_max: float = 600.0
    max_attempts: int = 8
    digest_window: float = 60.0
    escalate_warning: float = 1800.0
    escalate_critical: float = 300.0
    repeat_interval: float = 900.0
    silent_after: float = 1800.0
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE_FILE

    def escalate_after(self, level: str) -> float:
        return self.escalate_critical if level == "critical" else self.escalate_warning

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        mqtt = MqttSettings.from_env(env)
        base_url = env_str(env, "WEB_BASE_URL", "http://localhost:5000").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"WEB_BASE_URL must start with http:// or https://, got {base_url!r}")
        return cls(
            client_id=env_str(env, "NOTIFIER_CLIENT_ID", f"{mqtt.topic_root}-notifier"),
            data_dir=Path(env_str(env, "SMARTCAB_DATA_DIR", "data")),
            base_url=base_url,
            workers=env_int(env, "NOTIFIER_WORKERS", 4, minimum=1),
            tick=env_float(env, "NOTIFIER_TICK", 1.0, minimum=0.05),
            retry_base=env_float(env, "NOTIFIER_RETRY_BASE", 5.0, minimum=0.05),
            retry_max=env_float(env, "NOTIFIER_RETRY_MAX", 600.0, minimum=0.05),
            max_attempts=env_int(env, "NOTIFIER_MAX_ATTEMPTS", 8, minimum=1),
            digest_window=env_float(env, "NOTIFIER_DIGEST_WINDOW", 60.0, minimum=0.0),
            escalate_warning=env_float(env, "NOTIFIER_ESCALATE_WARNING", 1800.0, minimum=0.0),
            escalate_critical=env_float(env, "NOTIFIER_ESCALATE_CRITICAL", 300.0, minimum=0.0),
            repeat_interval=env_float(env, "NOTIFIER_REPEAT_INTERVAL", 900.0, minimum=0.0),
            silent_after=env_float(env, "NOTIFIER_SILENT_AFTER", 1800.0, minimum=0.0),
            mqtt=mqtt,
            smtp=SmtpSettings.from_env(env),
        )
