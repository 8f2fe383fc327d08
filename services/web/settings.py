"""The web service's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.database import DATABASE_FILE, Database, url_setting
from services.common.errors import ConfigError
from services.common.influx import InfluxSettings
from services.common.settings import (
    MqttSettings,
    check_base_url,
    data_dir_setting,
    read_env,
    read_field,
    reports_dir,
    reports_dir_setting,
    section,
    setting,
)
from services.common.smtp import SmtpSettings


@dataclass(frozen=True)
class Settings:
    """Every knob of the web service; docs/configuration.md lists them."""

    host: str = setting("WEB_HOST", "0.0.0.0", "address to listen on")
    port: int = setting("WEB_PORT", 5000, "TCP port of the dashboard", minimum=1)
    threads: int = setting(
        "WEB_THREADS", 32, "waitress worker threads (each open live stream holds one)", minimum=4
    )
    data_dir: Path = data_dir_setting()
    database_url: str = url_setting()
    reports_folder: str | None = reports_dir_setting()
    base_url: str = setting(
        "WEB_BASE_URL",
        "http://localhost:5000",
        "public address used in reset links (never taken from the request's Host header);"
        " `http://` or `https://`",
        clean=lambda url: url.rstrip("/"),
        shown="`http://localhost:$WEB_PORT`",
    )
    session_hours: int = setting(
        "WEB_SESSION_HOURS", 12, "lifetime of a signed-in session, in hours", minimum=1
    )
    session_idle_minutes: int = setting(
        "WEB_SESSION_IDLE_MINUTES",
        60,
        "a signed-in session left this many minutes without a page view ends",
        minimum=1,
    )
    secret_key_file: str | None = setting(
        "WEB_SECRET_KEY_FILE",
        None,
        "file holding the Fernet key that encrypts TOTP secrets and signs browser tokens;"
        " made on first start when missing. Keep it out of backups of the data directory",
        shown="`$SMARTCAB_DATA_DIR/web-secret.key`",
    )
    trust_proxy: bool = setting(
        "WEB_TRUST_PROXY", False, "trust one reverse proxy's `X-Forwarded-For/Proto/Host`"
    )
    live: bool = setting(
        "WEB_LIVE", True, "connect to the broker for live updates, commands and assignments"
    )
    sse_clients: int = setting(
        "WEB_SSE_CLIENTS",
        24,
        "live streams served at once; at most `WEB_THREADS - 2`",
        minimum=1,
        shown="¾ of `WEB_THREADS`",
    )
    gallery_keep: int = setting(
        "WEB_GALLERY_KEEP", 12, "camera snapshots kept on disk per patient and camera", minimum=1
    )
    command_timeout: float = setting(
        "WEB_COMMAND_TIMEOUT",
        5,
        "seconds a cabinet or camera button waits for the gateway's `cmd/result`",
        minimum=1,
    )
    devices: str | None = setting(
        "WEB_DEVICES",
        None,
        "the gateway's device registry (its `GATEWAY_DEVICES` file): the token hashes that"
        " key each board's firmware updates; unset means no updates over the air",
    )
    smtp: SmtpSettings = section(SmtpSettings)
    mqtt: MqttSettings = section(MqttSettings)
    influx: InfluxSettings = section(InfluxSettings)

    @property
    def database(self) -> Database:
        """PostgreSQL when DATABASE_URL is set, else the SQLite file in the data folder."""
        return Database.choose(self.database_url, self.data_dir / DATABASE_FILE)

    @property
    def reports_dir(self) -> Path:
        """Where the reporter puts reports; the web only reads them."""
        return reports_dir(self.data_dir, self.reports_folder)

    @property
    def secret_key_path(self) -> Path:
        return (
            Path(self.secret_key_file) if self.secret_key_file else self.data_dir / "web-secret.key"
        )

    @property
    def https(self) -> bool:
        """The public address is HTTPS, so cookies can take the ``__Host-`` prefix."""
        return self.base_url.startswith("https://")

    @property
    def gallery_dir(self) -> Path:
        return self.data_dir / "camera"

    @property
    def firmware_dir(self) -> Path:
        return self.data_dir / "firmware"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        port = read_field(cls, "port", env)
        threads = read_field(cls, "threads", env)
        derived = {"base_url": f"http://localhost:{port}", "sse_clients": max(1, threads * 3 // 4)}
        settings = read_env(cls, env, defaults=derived, port=port, threads=threads)
        check_base_url(settings.base_url)
        if settings.sse_clients > threads - 2:
            # Each live stream holds a worker thread; pages need a few left over.
            raise ConfigError(
                f"WEB_SSE_CLIENTS ({settings.sse_clients}) must be at most"
                f" WEB_THREADS - 2 ({threads - 2})"
            )
        return settings
