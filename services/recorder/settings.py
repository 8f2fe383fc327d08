"""The recorder's settings, read once from the environment."""

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.common.alerts import AlertSettings
from services.common.influx import InfluxSettings
from services.common.settings import MqttSettings, env_bool, env_float, env_int, env_str


@dataclass(frozen=True)
class Settings:
    """Every knob of the recorder; docs/schema.md and README.md list them."""

    shared: bool = False
    client_id: str = "smartcab-recorder"
    batch_size: int = 500
    batch_linger: float = 0.05
    retry_interval: float = 2.0
    data_dir: Path = Path("data")
    spool_max_bytes: int = 64 * 1024 * 1024
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    influx: InfluxSettings = field(default_factory=InfluxSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)

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
        shared = env_bool(env, "RECORDER_SHARED", False)
        # Shared recorders need distinct ids or the broker would keep only the newest.
        default_id = f"{mqtt.topic_root}-recorder" + (f"-{socket.gethostname()}" if shared else "")
        return cls(
            shared=shared,
            client_id=env_str(env, "RECORDER_CLIENT_ID", default_id),
            batch_size=env_int(env, "RECORDER_BATCH_SIZE", 500, minimum=1),
            batch_linger=env_float(env, "RECORDER_BATCH_LINGER", 0.05, minimum=0.0),
            retry_interval=env_float(env, "RECORDER_RETRY_INTERVAL", 2.0, minimum=0.05),
            data_dir=Path(env_str(env, "SMARTCAB_DATA_DIR", "data")),
            spool_max_bytes=env_int(
                env, "RECORDER_SPOOL_MAX_BYTES", 64 * 1024 * 1024, minimum=1024
            ),
            mqtt=mqtt,
            influx=InfluxSettings.from_env(env),
            alerts=AlertSettings.from_env(env),
        )
