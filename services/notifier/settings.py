"""The notifier's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.database import DATABASE_FILE, Database, url_setting
from services.common.settings import (
    MqttSettings,
    check_base_url,
    data_dir_setting,
    read_env,
    section,
    setting,
)
from services.common.smtp import SmtpSettings

from .egress import Egress

# The web's SQLite file under SMARTCAB_DATA_DIR: the care circle and the outbox live there.


@dataclass(frozen=True)
class Settings:
    """Every knob of the notifier; docs/configuration.md lists them."""

    client_id: str = setting(
        "NOTIFIER_CLIENT_ID",
        "smartcab-notifier",
        "MQTT client id of the persistent session",
        shown="`<root>-notifier`",
    )
    data_dir: Path = data_dir_setting()
    database_url: str = url_setting()
    base_url: str = setting(
        "WEB_BASE_URL",
        "http://localhost:5000",
        "the dashboard's address, for the links in messages; `http://` or `https://`",
        clean=lambda url: url.rstrip("/"),
    )
    workers: int = setting("NOTIFIER_WORKERS", 4, "messages sent at the same time", minimum=1)
    tick: float = setting(
        "NOTIFIER_TICK",
        1.0,
        "seconds between checks for escalations, repeats, acknowledgements and silent watches",
        minimum=0.05,
    )
    retry_base: float = setting(
        "NOTIFIER_RETRY_BASE",
        5.0,
        "seconds before the first retry; doubles each time",
        minimum=0.05,
    )
    retry_max: float = setting(
        "NOTIFIER_RETRY_MAX", 600.0, "longest wait between retries, in seconds", minimum=0.05
    )
    max_attempts: int = setting(
        "NOTIFIER_MAX_ATTEMPTS", 8, "tries before a message is given up", minimum=1
    )
    digest_window: float = setting(
        "NOTIFIER_DIGEST_WINDOW",
        60.0,
        "seconds after a message during which the next ones are gathered into one; `0` = off",
    )
    escalate_warning: float = setting(
        "NOTIFIER_ESCALATE_WARNING",
        1800.0,
        "seconds before an unacknowledged warning reaches the next tier; `0` = no escalation",
    )
    escalate_critical: float = setting(
        "NOTIFIER_ESCALATE_CRITICAL", 300.0, "the same for critical alerts"
    )
    repeat_interval: float = setting(
        "NOTIFIER_REPEAT_INTERVAL",
        900.0,
        "seconds between repeats until acknowledged; `0` = no repeats",
    )
    silent_after: float = setting(
        "NOTIFIER_SILENT_AFTER",
        1800.0,
        "seconds without a plausible reading before a watch counts as silent; `0` = off",
    )
    allowed_hosts: str | None = setting(
        "NOTIFIER_ALLOWED_HOSTS",
        None,
        "host names, addresses or networks (`,`-separated) of the deployment's own network"
        " that contacts' channels may reach, e.g. a LAN webhook; anything else not on the"
        " public internet is refused (the SMTP server always may be reached)",
    )
    service_grace: float = setting(
        "NOTIFIER_SERVICE_GRACE",
        60.0,
        "seconds a service may be offline (a restart) before the admins are told",
    )
    mqtt: MqttSettings = section(MqttSettings)
    smtp: SmtpSettings = section(SmtpSettings)

    @property
    def database(self) -> Database:
        """The web's database, where the care circle and the outbox live."""
        return Database.choose(self.database_url, self.data_dir / DATABASE_FILE)

    def escalate_after(self, level: str) -> float:
        return self.escalate_critical if level == "critical" else self.escalate_warning

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        mqtt = MqttSettings.from_env(env)
        defaults = {"client_id": f"{mqtt.topic_root}-notifier"}
        settings = read_env(cls, env, defaults=defaults, mqtt=mqtt)
        check_base_url(settings.base_url)
        _ = settings.egress  # refuses an entry that is not a host, an address or a network
        return settings

    @property
    def egress(self) -> Egress:
        """Where channels may connect besides public addresses: the listed hosts, SMTP."""
        return Egress.parse(self.allowed_hosts, self.smtp.host)
