"""The optional device registry (``GATEWAY_DEVICES``): known ids, kinds and tokens.

Without a registry the gateway runs in trusted-LAN mode: any well-formed id is
accepted, as the original firmware expects, and a device's kind comes from its id's first three
characters (``services/common/devices.py``).
"""

import hashlib
import hmac
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from services.common.devices import KIND_NAMES, kind_of
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


class Registry:
    """Who may connect. ``Registry(None)`` is trusted-LAN mode."""

    def __init__(self, entries: dict[str, DeviceEntry] | None) -> None:
        self._entries = entries

    @property
    def enforcing(self) -> bool:
        return self._entries is not None

    @classmethod
    def load(cls, path: str | None) -> "Registry":
        if not path:
            return cls(None)
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
            kind = spec.get("kind") or kind_of(device_id)
            if kind not in KIND_NAMES:
                raise ConfigError(f"{path}: device {device_id} needs kind = one of {KIND_NAMES}")
            digest = spec.get("token_sha256")
            if digest is not None and len(digest) != 64:
                raise ConfigError(f"{path}: device {device_id} token_sha256 is not a SHA-256 hex")
            entries[device_id] = DeviceEntry(device_id, kind, digest)
        return cls(entries)

    def check(self, device_id: str, token: str | None) -> str | None:
        """Return the device's kind, or raise ``DeviceRefused``."""
        if self._entries is None:
            return kind_of(device_id)
        entry = self._entries.get(device_id)
        if entry is None:
            raise DeviceRefused("unknown device id")
        if entry.token_sha256 is not None:
            if token is None:
                raise DeviceRefused("token required")
            if not hmac.compare_digest(hash_token(token), entry.token_sha256):
                raise DeviceRefused("wrong token")
        return entry.kind
