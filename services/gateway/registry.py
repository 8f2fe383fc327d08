"""The device registry (``GATEWAY_DEVICES``): known ids, kinds and tokens.

With a registry only its devices may connect, each with its token, unless its entry says
``allow_without_token = true`` (boards on the original prototype's firmware cannot send
one). Trusted-LAN mode (``GATEWAY_TRUSTED_LAN=1``) accepts any well-formed id, as the
original firmware expects, and a device's kind comes from its id's first three characters
(``services/common/devices.py``). It is never the default: with neither, the gateway
does not start.
"""

import hashlib
import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from services.common.devices import KIND_NAMES, is_reserved, kind_of
from services.common.errors import ConfigError
from services.common.protocol import ProtocolError, validate_id


class DeviceRefused(Exception):
    """A device may not register: unknown id or wrong token."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class DeviceEntry:
    device_id: str
    kind: str
    token_sha256: str | None
    allow_without_token: bool = False


class Registry:
    """Who may connect. ``Registry(None)`` is trusted-LAN mode."""

    def __init__(self, entries: dict[str, DeviceEntry] | None) -> None:
        self._entries = entries

    @property
    def enforcing(self) -> bool:
        return self._entries is not None

    @property
    def empty(self) -> bool:
        """A registry that lists no device: every device is refused until one is added."""
        return self._entries == {}

    @property
    def without_token(self) -> list[str]:
        """The ids that may connect without a token (logged as a warning at start)."""
        return sorted(e.device_id for e in (self._entries or {}).values() if e.allow_without_token)

    @classmethod
    def from_settings(cls, devices_file: str | None, trusted_lan: bool) -> "Registry":
        """The registry file, or trusted-LAN mode when chosen; neither (or both) is an error."""
        if devices_file and trusted_lan:
            raise ConfigError(
                "GATEWAY_DEVICES and GATEWAY_TRUSTED_LAN=1 are both set: choose one, a device"
                " registry or trusted-LAN mode"
            )
        if trusted_lan:
            return cls(None)
        if not devices_file:
            raise ConfigError(
                "no device registry: set GATEWAY_DEVICES to a registry file (entries come from"
                " 'python -m services.gateway token <id>'), or GATEWAY_TRUSTED_LAN=1 to accept"
                " any device, only on a network where every device is yours"
            )
        return cls.load(devices_file)

    @classmethod
    def load(cls, path: str) -> "Registry":
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read GATEWAY_DEVICES file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"GATEWAY_DEVICES file {path} is not valid TOML: {exc}") from exc
        entries = {}
        for device_id, spec in data.get("devices", {}).items():
            try:
                validate_id(device_id.encode())
            except ProtocolError as exc:
                raise ConfigError(f"{path}: bad device id {device_id!r}: {exc.reason}") from exc
            if is_reserved(device_id):
                raise ConfigError(f"{path}: device id {device_id!r} is reserved for the system")
            kind = spec.get("kind") or kind_of(device_id)
            if kind not in KIND_NAMES:
                raise ConfigError(f"{path}: device {device_id} needs kind = one of {KIND_NAMES}")
            entries[device_id] = _entry(path, device_id, kind, spec)
        return cls(entries)

    def check(self, device_id: str, token: str | None) -> str | None:
        """Return the device's kind, or raise ``DeviceRefused``."""
        if self._entries is None:
            return kind_of(device_id)
        entry = self._entries.get(device_id)
        if entry is None and not self._entries:
            raise DeviceRefused("unknown device id (the registry lists no device yet)")
        if entry is None:
            raise DeviceRefused("unknown device id")
        if token is None:
            if not entry.allow_without_token:
                raise DeviceRefused("token required")
        elif entry.token_sha256 is None or not hmac.compare_digest(
            hash_token(token), entry.token_sha256
        ):
            raise DeviceRefused("wrong token")
        return entry.kind


def _entry(path: str, device_id: str, kind: str, spec: dict) -> DeviceEntry:
    digest = spec.get("token_sha256")
    if digest is not None and (not isinstance(digest, str) or len(digest) != 64):
        raise ConfigError(f"{path}: device {device_id} token_sha256 is not a SHA-256 hex")
    allow = spec.get("allow_without_token", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{path}: device {device_id} allow_without_token is not true or false")
    if digest is None and not allow:
        raise ConfigError(
            f"{path}: device {device_id} has no token_sha256: add one ('python -m"
            f" services.gateway token {device_id}' prints it), or allow_without_token = true"
            " for a board that cannot send a token"
        )
    return DeviceEntry(device_id, kind, digest, allow)
