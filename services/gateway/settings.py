"""The gateway's settings, read once from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.common.protocol import DEFAULT_MAX_FRAME
from services.common.settings import MqttSettings, env_float, env_int, env_str

from .discovery import DiscoverySettings


@dataclass(frozen=True)
class Settings:
    """Every knob of the gateway; README.md lists them with their meaning."""

    host: str = "0.0.0.0"
    port: int = 5050
    devices_file: str | None = None
    max_frame: int = DEFAULT_MAX_FRAME
    handshake_timeout: float = 10.0
    hello_settle: float = 0.05
    transfer_timeout: float = 10.0
    idle_timeout: float = 900.0
    keepalive: int = 60
    max_connections: int = 10_000
    max_per_address: int = 64
    cmd_queue: int = 8
    cmd_gap: float = 0.3
    answer_timeout: float = 20.0
    mqtt_queue: int = 10_000
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    ha: DiscoverySettings = field(default_factory=DiscoverySettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        return cls(
            host=env_str(env, "GATEWAY_HOST", "0.0.0.0"),
            port=env_int(env, "GATEWAY_PORT", 5050, minimum=0),
            devices_file=env_str(env, "GATEWAY_DEVICES"),
            max_frame=env_int(env, "GATEWAY_MAX_FRAME", DEFAULT_MAX_FRAME, minimum=1),
            handshake_timeout=env_float(env, "GATEWAY_HANDSHAKE_TIMEOUT", 10.0, minimum=0.1),
            hello_settle=env_float(env, "GATEWAY_HELLO_SETTLE", 0.05, minimum=0.001),
            transfer_timeout=env_float(env, "GATEWAY_TRANSFER_TIMEOUT", 10.0, minimum=0.1),
            idle_timeout=env_float(env, "GATEWAY_IDLE_TIMEOUT", 900.0, minimum=1.0),
            keepalive=env_int(env, "GATEWAY_KEEPALIVE", 60, minimum=1),
            max_connections=env_int(env, "GATEWAY_MAX_CONNECTIONS", 10_000, minimum=1),
            max_per_address=env_int(env, "GATEWAY_MAX_PER_ADDRESS", 64, minimum=1),
            cmd_queue=env_int(env, "GATEWAY_CMD_QUEUE", 8, minimum=1),
            cmd_gap=env_float(env, "GATEWAY_CMD_GAP", 0.3, minimum=0.0),
            answer_timeout=env_float(env, "GATEWAY_ANSWER_TIMEOUT", 20.0, minimum=0.1),
            mqtt_queue=env_int(env, "GATEWAY_MQTT_QUEUE", 10_000, minimum=1),
            mqtt=MqttSettings.from_env(env),
            ha=DiscoverySettings.from_env(env),
        )
