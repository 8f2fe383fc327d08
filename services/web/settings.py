"""The web service's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.errors import ConfigError
from services.common.influx import InfluxSettings
from services.common.settings import MqttSettings, env_bool, env_int, env_str


@dataclass(frozen=True)
class SmtpSettings:
    """Where password-reset mail goes out; ``host`` None means mail is off."""

    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "Health Plus <no-reply@localhost>"
    timeout: int = 10

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SmtpSettings":
        return cls(
            host=env_str(env, "SMTP_HOST"),
            port=env_int(env, "SMTP_PORT", 587, minimum=1),
            username=env_str(env, "SMTP_USERNAME"),
            password=env_str(env, "SMTP_PASSWORD"),
            starttls=env_bool(env, "SMTP_STARTTLS", True),
            sender=env_str(env, "SMTP_FROM", "Health Plus <no-reply@localhost>"),
            timeout=env_int(env, "SMTP_TIMEOUT", 10, minimum=1),
        )


@dataclass(frozen=True)
class Settings:
    """Every knob of the web service; docs/web.md lists them."""

    host: str = "0.0.0.0"
    port: int = 5000
    threads: int = 32
    data_dir: Path = Path("data")
    base_url: str = "http://localhost:5000"
    session_hours: int = 12
    trust_proxy: bool = False
    live: bool = True
    sse_clients: int = 24
    gallery_keep: int = 12
    command_timeout: float = 5.0
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    influx: InfluxSettings = field(default_factory=InfluxSettings)

    @property
    def database(self) -> Path:
        return self.data_dir / "web.sqlite3"

    @property
    def gallery_dir(self) -> Path:
        return self.data_dir / "camera"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        port = env_int(env, "WEB_PORT", 5000, minimum=1)
        base_url = env_str(env, "WEB_BASE_URL", f"http://localhost:{port}").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"WEB_BASE_URL must start with http:// or https://, got {base_url!r}")
        threads = env_int(env, "WEB_THREADS", 32, minimum=4)
        sse_clients = env_int(env, "WEB_SSE_CLIENTS", max(1, threads * 3 // 4), minimum=1)
        if sse_clients > threads - 2:
            # Each live stream holds a worker thread; pages need a few left over.
            raise ConfigError(
                f"WEB_SSE_CLIENTS ({sse_clients}) must be at most WEB_THREADS - 2 ({threads - 2})"
            )
        return cls(
            host=env_str(env, "WEB_HOST", "0.0.0.0"),
            port=port,
            threads=threads,
            data_dir=Path(env_str(env, "SMARTCAB_DATA_DIR", "data")),
            base_url=base_url,
            session_hours=env_int(env, "WEB_SESSION_HOURS", 12, minimum=1),
            trust_proxy=env_bool(env, "WEB_TRUST_PROXY", False),
            live=env_bool(env, "WEB_LIVE", True),
            sse_clients=sse_clients,
            gallery_keep=env_int(env, "WEB_GALLERY_KEEP", 12, minimum=1),
            command_timeout=env_int(env, "WEB_COMMAND_TIMEOUT", 5, minimum=1),
            smtp=SmtpSettings.from_env(env),
            mqtt=MqttSettings.from_env(env),
            influx=InfluxSettings.from_env(env),
        )
