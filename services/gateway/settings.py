"""The gateway's settings, read once from the environment."""

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.devices import GATEWAY_ID
from services.common.errors import ConfigError
from services.common.protocol import DEFAULT_MAX_FRAME
from services.common.settings import MqttSettings, read_env, section, setting

from .discovery import DiscoverySettings


def _gateway_id(value: str) -> str:
    if not GATEWAY_ID.fullmatch(value):
        raise ConfigError(f"GATEWAY_ID must be 1 to 32 letters, digits, '-' or '_', got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Every knob of the gateway; docs/configuration.md lists them with their meaning."""

    host: str = setting("GATEWAY_HOST", "0.0.0.0", "address to listen on")
    port: int = setting("GATEWAY_PORT", 5050, "TCP port the devices connect to", minimum=0)
    gateway_id: str | None = setting(
        "GATEWAY_ID",
        None,
        "this gateway's id when several run side by side (docs/scale.md): its status becomes"
        " `services/gateway-<id>/status` and it records which devices it holds; one gateway"
        " needs none",
        clean=_gateway_id,
    )
    tls_port: int | None = setting(
        "GATEWAY_TLS_PORT",
        None,
        "TCP port of a second listener speaking the same device protocol inside TLS, beside"
        " the plain `GATEWAY_PORT` (unset: none); needs `GATEWAY_TLS_CERT` and `GATEWAY_TLS_KEY`",
        kind="int",
        minimum=0,
    )
    tls_cert: str | None = setting(
        "GATEWAY_TLS_CERT",
        None,
        "the TLS listener's certificate chain (PEM), e.g. `server.crt` from"
        " `scripts/make-certs.sh`",
    )
    tls_key: str | None = setting(
        "GATEWAY_TLS_KEY", None, "the TLS listener's private key (PEM), e.g. `server.key`"
    )
    devices_file: str | None = setting(
        "GATEWAY_DEVICES",
        None,
        "device registry file: only its devices may connect, each with its token",
    )
    trusted_lan: bool = setting(
        "GATEWAY_TRUSTED_LAN",
        False,
        "accept any well-formed device id without a registry (a network where every device is"
        " yours); the gateway refuses to start with neither this nor `GATEWAY_DEVICES`",
    )
    max_frame: int = setting(
        "GATEWAY_MAX_FRAME",
        DEFAULT_MAX_FRAME,
        "largest `size-N` a device may declare, in bytes",
        minimum=1,
    )
    handshake_timeout: float = setting(
        "GATEWAY_HANDSHAKE_TIMEOUT",
        10.0,
        "seconds a new connection has to finish `new~<id>`",
        minimum=0.1,
    )
    hello_settle: float = setting(
        "GATEWAY_HELLO_SETTLE",
        0.05,
        "quiet time that ends a `new~<id>` (the protocol has no terminator)",
        minimum=0.001,
    )
    transfer_timeout: float = setting(
        "GATEWAY_TRANSFER_TIMEOUT",
        10.0,
        "seconds without progress before a half-sent message is a stall",
        minimum=0.1,
    )
    idle_timeout: float = setting(
        "GATEWAY_IDLE_TIMEOUT",
        900.0,
        "seconds of silence before a registered device is dropped",
        minimum=1.0,
    )
    keepalive: int = setting(
        "GATEWAY_KEEPALIVE",
        60,
        "seconds of silence before TCP keepalive probes a device; three unanswered probes"
        " (`GATEWAY_KEEPALIVE/6` s apart, at least 1 s) drop it",
        minimum=1,
    )
    max_connections: int = setting(
        "GATEWAY_MAX_CONNECTIONS", 10_000, "device connections in total", minimum=1
    )
    max_per_address: int = setting(
        "GATEWAY_MAX_PER_ADDRESS", 64, "device connections from one IP address", minimum=1
    )
    cmd_queue: int = setting(
        "GATEWAY_CMD_QUEUE", 8, "commands waiting per device before new ones are refused", minimum=1
    )
    cmd_gap: float = setting(
        "GATEWAY_CMD_GAP",
        0.3,
        "seconds between two commands that get no answer (`lof`, `lon`)",
        minimum=0.0,
    )
    answer_timeout: float = setting(
        "GATEWAY_ANSWER_TIMEOUT",
        20.0,
        "longest wait for a device's answer to `bpm`, `img` or `inv` before the next command goes",
        minimum=0.1,
    )
    mqtt_queue: int = setting(
        "GATEWAY_MQTT_QUEUE",
        10_000,
        "messages kept while the broker is away; overflow is counted and logged",
        minimum=1,
    )
    mqtt: MqttSettings = section(MqttSettings)
    ha: DiscoverySettings = section(DiscoverySettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        settings = read_env(cls, env)
        if settings.tls_port is not None and not (settings.tls_cert and settings.tls_key):
            raise ConfigError("GATEWAY_TLS_PORT needs GATEWAY_TLS_CERT and GATEWAY_TLS_KEY")
        return settings
