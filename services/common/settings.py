"""Reading typed settings from the environment, and the MQTT settings every service uses."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    """Return the variable, or ``default`` when unset or empty."""
    value = env.get(name, "")
    return value if value != "" else default


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int | None = None) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "")
    lowered = raw.strip().lower()
    if lowered == "":
        return default  # unset or empty, as for every other setting
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class MqttSettings:
    """Where the broker is and how to sign in to it."""

    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    topic_root: str = "smartcab"
    keepalive: int = 30
    tls_ca: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "MqttSettings":
        env = os.environ if env is None else env
        root = env_str(env, "MQTT_TOPIC_ROOT", "smartcab")
        if any(c in root for c in "+#") or root.startswith("/") or root.endswith("/"):
            raise ConfigError(f"MQTT_TOPIC_ROOT must be a plain topic prefix, got {root!r}")
        return cls(
            host=env_str(env, "MQTT_HOST", "localhost"),
            port=env_int(env, "MQTT_PORT", 1883, minimum=1),
            username=env_str(env, "MQTT_USERNAME"),
            password=env_str(env, "MQTT_PASSWORD"),
            topic_root=root,
            keepalive=env_int(env, "MQTT_KEEPALIVE", 30, minimum=5),
            tls_ca=env_str(env, "MQTT_TLS_CA"),
        )
