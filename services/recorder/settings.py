"""The recorder's settings, read once from the environment."""

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.alerts import AlertSettings
from services.common.errors import ConfigError
from services.common.influx import InfluxSettings
from services.common.settings import (
    MqttSettings,
    data_dir_setting,
    read_env,
    read_field,
    section,
    setting,
)


@dataclass(frozen=True)
class Settings:
    """Every knob of the recorder; docs/configuration.md lists them."""

    shared: bool = setting(
        "RECORDER_SHARED",
        False,
        "a shared subscription (`$share/recorder/…`), so several recorders split the load",
    )
    standby: bool = setting(
        "RECORDER_STANDBY",
        False,
        "one recorder holds the session, the others wait and take over when it goes; for"
        " brokers without shared subscriptions, such as NATS (docs/scale.md)",
    )
    lease: float = setting(
        "RECORDER_LEASE",
        30.0,
        "seconds a standby waits for the holder's renewed claim before taking over (a last"
        " will takes over at once); above the broker's failover time",
        minimum=1.0,
    )
    client_id: str = setting(
        "RECORDER_CLIENT_ID",
        "smartcab-recorder",
        "MQTT client id of the persistent session",
        shown="`<root>-recorder`, plus `-<hostname>` when shared",
    )
    batch_size: int = setting(
        "RECORDER_BATCH_SIZE", 500, "most messages per InfluxDB write", minimum=1
    )
    batch_linger: float = setting(
        "RECORDER_BATCH_LINGER", 0.05, "seconds to wait for more messages before writing"
    )
    retry_interval: float = setting(
        "RECORDER_RETRY_INTERVAL", 2.0, "seconds between tries while InfluxDB is away", minimum=0.05
    )
    assignments_settle: float = setting(
        "RECORDER_ASSIGNMENTS_SETTLE",
        1.0,
        "seconds without a new patient assignment, after every connect, before readings are"
        " stored: they wait (unacknowledged) for the retained assignments, which tag them",
        minimum=0.05,
    )
    data_dir: Path = data_dir_setting()
    spool_max_bytes: int = setting(
        "RECORDER_SPOOL_MAX_BYTES",
        64 * 1024 * 1024,
        "size of the on-disk spool under `$SMARTCAB_DATA_DIR/recorder/`; when full, an alert"
        " is raised and messages stay unacknowledged in the broker",
        minimum=1024,
    )
    mqtt: MqttSettings = section(MqttSettings)
    influx: InfluxSettings = section(InfluxSettings)
    alerts: AlertSettings = section(AlertSettings)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "recorder" / "spool"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "recorder" / "state.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        mqtt = MqttSettings.from_env(env)
        shared = read_field(cls, "shared", env)
        if shared and read_field(cls, "standby", env):
            raise ConfigError("RECORDER_SHARED and RECORDER_STANDBY are two ways; choose one")
        # Shared recorders need distinct ids or the broker would keep only the newest;
        # standbys share one id, the session they take over.
        default_id = f"{mqtt.topic_root}-recorder" + (f"-{socket.gethostname()}" if shared else "")
        return read_env(cls, env, defaults={"client_id": default_id}, mqtt=mqtt, shared=shared)
