"""Reading typed settings from the environment, and the MQTT settings every service uses.

Each settings dataclass declares its fields with :func:`setting`: the environment
variable, the default, the limits and a one-line meaning live there once. The
generic :func:`read_env` reads them; ``python -m services.common.settings_doc``
writes docs/configuration.md from the same declarations.
"""

import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
EnvMap = Mapping[str, str]
Parser = Callable[[EnvMap, str, Any, Any], Any]


def env_str(env: EnvMap, name: str, default: str | None = None) -> str | None:
    """Return the variable, or ``default`` when unset or empty."""
    value = env.get(name, "")
    return value if value != "" else default


def env_int(env: EnvMap, name: str, default: int, minimum: int | None = None) -> int:
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


def env_float(env: EnvMap, name: str, default: float, minimum: float = 0.0) -> float:
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


def env_bool(env: EnvMap, name: str, default: bool) -> bool:
    raw = env.get(name, "")
    lowered = raw.strip().lower()
    if lowered == "":
        return default  # unset or empty, as for every other setting
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_paths(env: EnvMap, name: str, default: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """A ``:``-separated list of paths; unset or empty means ``default``."""
    raw = env_str(env, name, "") or ""
    return tuple(Path(p) for p in raw.split(":") if p) or default


def _parse_bool(env: EnvMap, name: str, default: Any, minimum: Any) -> bool:
    return env_bool(env, name, default)


def _parse_int(env: EnvMap, name: str, default: Any, minimum: Any) -> int:
    return env_int(env, name, default, minimum=minimum)


def _parse_float(env: EnvMap, name: str, default: Any, minimum: Any) -> float:
    return env_float(env, name, default, minimum=0.0 if minimum is None else minimum)


def _parse_path(env: EnvMap, name: str, default: Any, minimum: Any) -> Path:
    return Path(env_str(env, name, str(default)))


def _parse_paths(env: EnvMap, name: str, default: Any, minimum: Any) -> tuple[Path, ...]:
    return env_paths(env, name, default)


def _parse_str(env: EnvMap, name: str, default: Any, minimum: Any) -> str | None:
    return env_str(env, name, default)


# what each kind of value is read with, and how the docs describe it
KINDS: dict[str, tuple[Parser, str]] = {
    "bool": (_parse_bool, "true or false"),
    "int": (_parse_int, "whole number"),
    "float": (_parse_float, "number"),
    "path": (_parse_path, "path"),
    "paths": (_parse_paths, "`:`-separated paths"),
    "str": (_parse_str, "text"),
}


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, Path):
        return "path"
    if isinstance(default, tuple):
        return "paths"
    return "str"


def setting(
    env: str,
    default: Any = None,
    doc: str = "",
    *,
    minimum: float | None = None,
    kind: str | None = None,
    clean: Callable[[Any], Any] | None = None,
    shown: str | None = None,
) -> Any:
    """A dataclass field read from the variable ``env``; ``doc`` is its line in the docs.

    ``kind`` (bool, int, float, path, paths, str) follows the default's type unless
    given; ``clean`` tidies the value read; ``shown`` is the default as the docs
    print it when the field's own default is derived at reading time.
    """
    kind = kind or _kind_of(default)
    meta = {"env": env, "doc": doc, "minimum": minimum, "kind": kind}
    meta |= {"clean": clean, "shown": shown}
    return dataclasses.field(default=default, metadata=meta)


def section(cls: type) -> Any:
    """A nested settings dataclass, read with its own ``from_env``."""
    return dataclasses.field(default_factory=cls, metadata={"section": cls})


def env_fields(cls: type) -> Iterator[dataclasses.Field]:
    """The fields of ``cls`` that come from one environment variable each."""
    return (f for f in dataclasses.fields(cls) if "env" in f.metadata)


def read_field(cls: type, name: str, env: EnvMap, default: Any = dataclasses.MISSING) -> Any:
    """Read one field of ``cls``; ``default`` replaces a derived field's default."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    meta = f.metadata
    value = KINDS[meta["kind"]][0](
        env, meta["env"], f.default if default is dataclasses.MISSING else default, meta["minimum"]
    )
    return meta["clean"](value) if meta["clean"] and value is not None else value


def read_env(
    cls: type, env: EnvMap | None = None, /, defaults: Mapping[str, Any] | None = None, **known: Any
) -> Any:
    """Build ``cls`` from the environment: its settings, its sections, ``known`` as given."""
    env = os.environ if env is None else env
    defaults = defaults or {}
    values = dict(known)
    for f in dataclasses.fields(cls):
        if f.name in values:
            continue
        if "env" in f.metadata:
            values[f.name] = read_field(cls, f.name, env, defaults.get(f.name, dataclasses.MISSING))
        elif "section" in f.metadata:
            values[f.name] = f.metadata["section"].from_env(env)
    return cls(**values)


def data_dir_setting() -> Any:
    """``SMARTCAB_DATA_DIR``, shared by the services that keep files."""
    return setting(
        "SMARTCAB_DATA_DIR",
        Path("data"),
        "local data: databases, the recorder's spool, reports, snapshots, `make run` logs",
    )


def reports_dir_setting() -> Any:
    """``SMARTCAB_REPORTS_DIR``: the reporter writes report files there, the web serves them."""
    return setting(
        "SMARTCAB_REPORTS_DIR",
        None,
        "report files (PDF, CSV, FHIR): the reporter writes them, the web serves them; a"
        " folder of their own lets the reporter read the rest of the data read only",
        shown="`$SMARTCAB_DATA_DIR/reports`",
    )


def reports_dir(data_dir: Path, chosen: str | None) -> Path:
    """``SMARTCAB_REPORTS_DIR`` when set, else ``reports`` in the data directory."""
    return Path(chosen) if chosen else data_dir / "reports"


def check_base_url(url: str) -> None:
    """``WEB_BASE_URL`` goes into links people click, so it must be a web address."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"WEB_BASE_URL must start with http:// or https://, got {url!r}")


def parse_brokers(raw: str, default_port: int) -> tuple[tuple[str, int], ...]:
    """``MQTT_HOSTS``: ``host:port`` entries (``[v6]:port``); a bare host takes MQTT_PORT."""
    brokers = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        host, port = entry, str(default_port)
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":") or port
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        try:
            number = int(port)
        except ValueError:
            number = 0
        if not host or not 0 < number < 65536:
            raise ConfigError(f"MQTT_HOSTS takes host:port entries, got {entry!r}")
        brokers.append((host, number))
    if not brokers:
        raise ConfigError(f"MQTT_HOSTS names no broker: {raw!r}")
    return tuple(brokers)


def check_topic_root(root: str) -> None:
    if any(c in root for c in "+#") or root.startswith("/") or root.endswith("/"):
        raise ConfigError(f"MQTT_TOPIC_ROOT must be a plain topic prefix, got {root!r}")


@dataclass(frozen=True)
class MqttSettings:
    """Where the broker is (one, or the nodes of a cluster) and how to sign in to it."""

    host: str = setting("MQTT_HOST", "localhost", "broker host, when MQTT_HOSTS is unset")
    port: int = setting("MQTT_PORT", 1883, "broker port, when MQTT_HOSTS is unset", minimum=1)
    hosts: str | None = setting(
        "MQTT_HOSTS",
        None,
        "comma-separated `host:port` nodes of a broker cluster: a service connects to the"
        " first that answers and moves to the next when it loses its node",
        shown="`MQTT_HOST:MQTT_PORT`",
    )
    username: str | None = setting("MQTT_USERNAME", None, "broker account")
    password: str | None = setting("MQTT_PASSWORD", None, "its password")
    topic_root: str = setting(
        "MQTT_TOPIC_ROOT", "smartcab", "first level of every topic; no `+`, `#` or outer `/`"
    )
    keepalive: int = setting(
        "MQTT_KEEPALIVE",
        30,
        "seconds; the broker publishes a dead service's last will after 1.5× this",
        minimum=5,
    )
    tls_ca: str | None = setting("MQTT_TLS_CA", None, "CA file; set it to connect with TLS")
    clean_qos: int = setting(
        "MQTT_CLEAN_SESSION_QOS",
        1,
        "highest QoS the services without a kept session (gateway, scheduler, web) subscribe"
        " with; 0 on NATS, where each QoS 1 subscription is a JetStream consumer that a"
        " failover has to create again (docs/scale.md)",
        minimum=0,
    )

    @property
    def brokers(self) -> tuple[tuple[str, int], ...]:
        """Every broker address to try, in order."""
        if self.hosts:
            return parse_brokers(self.hosts, self.port)
        return ((self.host, self.port),)

    @classmethod
    def from_env(cls, env: EnvMap | None = None) -> "MqttSettings":
        settings = read_env(cls, env)
        check_topic_root(settings.topic_root)
        settings.brokers  # noqa: B018 - a bad MQTT_HOSTS stops the service at start
        if settings.clean_qos > 1:
            raise ConfigError(f"MQTT_CLEAN_SESSION_QOS must be 0 or 1, got {settings.clean_qos}")
        return settings
