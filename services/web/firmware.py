"""Firmware releases for the boards: stored bundles, per-board signing, rollout progress.

A release is a board kind's library (``lib/smartcab``: flat ``*.py`` files) stored under
``<data dir>/firmware/<kind>/<version>/`` with a ``manifest.json`` (kind, version, each
file's size and sha256). A board fetches it with its registry token; the manifest goes out
with an HMAC-SHA256 keyed by sha256(token), the hash the gateway's registry keeps, so only
this deployment can sign what a board installs.
"""

import hashlib
import hmac
import json
import os
import re
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from services.common.devices import KIND_NAMES, kind_of

from .errors import NotFound, ValidationError

# A version is a folder name beside the kind's "current" file: never ".", ".." or that.
VERSION_RE = re.compile(r"^(?!current$)[A-Za-z0-9_-][A-Za-z0-9_.-]{0,31}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,39}$")
SUFFIXES = (".py", ".json")
MANIFEST = "manifest.json"
MAX_BUNDLE = 1024 * 1024


@dataclass(frozen=True)
class Board:
    device_id: str
    kind: str
    key: bytes  # sha256(token): the HMAC key the board derives from its own token


def load_boards(path: str | None) -> dict[str, Board]:
    """The boards that may update: the registry's devices that have a token."""
    if not path:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"cannot read the device registry {path}: {exc}") from exc
    boards = {}
    for device_id, spec in data.get("devices", {}).items():
        digest = spec.get("token_sha256")
        kind = spec.get("kind") or kind_of(device_id)
        if digest and kind in KIND_NAMES:
            boards[device_id] = Board(device_id, kind, bytes.fromhex(digest))
    return boards


def registry_ids(path: str | None) -> set[str]:
    """Every device the registry lists, with a token or not (empty when there is none)."""
    if not path:
        return set()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"cannot read the device registry {path}: {exc}") from exc
    return set(data.get("devices", {}))


def authenticate(boards: dict[str, Board], device_id: str, header: str) -> Board:
    """The board behind ``Authorization: Device <id>:<token>``, or NotFound."""
    board = boards.get(device_id)
    scheme, _, credentials = header.partition(" ")
    claimed, _, token = credentials.partition(":")
    if board is None or scheme != "Device" or claimed != device_id or not token:
        raise NotFound("no such board")
    if not hmac.compare_digest(hashlib.sha256(token.encode()).digest(), board.key):
        raise NotFound("no such board")
    return board


def sign(board: Board, manifest: bytes) -> str:
    return hmac.new(board.key, manifest, hashlib.sha256).hexdigest()


class Store:
    """Releases on disk, the current one per kind, and what each board fetched."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def publish(self, kind: str, version: str, files: dict[str, bytes]) -> dict:
        """Store a release and make it the kind's current one; returns its manifest."""
        if kind not in KIND_NAMES:
            raise ValidationError(f"kind must be one of {', '.join(KIND_NAMES)}")
        if not VERSION_RE.match(version):
            raise ValidationError(
                "version: letters, digits, '.', '_' or '-' (not first), at most 32; not 'current'"
            )
        _check_files(files)
        target = self.root / kind / version
        if target.exists():
            raise ValidationError(f"{kind} {version} is already published")
        entries = [
            {"path": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in sorted(files.items())
        ]
        manifest = {"kind": kind, "version": version, "files": entries, "at": int(time.time())}
        tmp = target.with_name(f".{version}.tmp")
        tmp.mkdir(parents=True)
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        (tmp / MANIFEST).write_bytes(json.dumps(manifest, sort_keys=True).encode())
        tmp.rename(target)
        _replace(self.root / kind / "current", version.encode())
        return manifest

    def current(self, kind: str) -> str | None:
        try:
            return (self.root / kind / "current").read_text().strip() or None
        except OSError:
            return None

    def manifest(self, kind: str) -> bytes:
        version = self.current(kind)
        if version is None:
            raise NotFound(f"no {kind} firmware published")
        return (self.root / kind / version / MANIFEST).read_bytes()

    def file(self, kind: str, name: str) -> bytes:
        version = self.current(kind)
        if version is None or not NAME_RE.match(name) or name == MANIFEST:
            raise NotFound("no such file")
        path = self.root / kind / version / name
        if not path.is_file():
            raise NotFound("no such file")
        return path.read_bytes()

    def note(self, device_id: str, kind: str, what: str) -> None:
        """Record a board's step of the rollout: ``manifest`` or a file fetched."""
        progress = self.progress(device_id)
        version = self.current(kind)
        if progress.get("version") != version:
            progress = {"version": version, "files": 0}
        if what == "manifest":
            progress["manifest_at"] = int(time.time())
        else:
            progress["files"] = progress.get("files", 0) + 1
        (self.root / "progress").mkdir(parents=True, exist_ok=True)
        _replace(self.root / "progress" / f"{device_id}.json", json.dumps(progress).encode())

    def progress(self, device_id: str) -> dict:
        try:
            return json.loads((self.root / "progress" / f"{device_id}.json").read_bytes())
        except (OSError, ValueError):
            return {}


def _check_files(files: dict[str, bytes]) -> None:
    if not files:
        raise ValidationError("a bundle needs at least one file")
    if sum(len(d) for d in files.values()) > MAX_BUNDLE:
        raise ValidationError("a bundle is at most 1 MB")
    for name in files:
        if not NAME_RE.match(name) or not name.endswith(SUFFIXES) or name == MANIFEST:
            raise ValidationError(f"{name!r}: bundles hold flat .py or .json files only")


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_bundle(directory: Path) -> dict[str, bytes]:
    """The bundle files of a directory (as ``deploy.sh`` copies to ``lib/smartcab``)."""
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory")
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name.endswith(SUFFIXES) and p.name != MANIFEST
    }


def rollout(store: Store, boards: dict[str, Board], versions: dict[str, str]) -> list[dict]:
    """Each board's kind, reported version and state in its kind's current release."""
    rows = []
    for board in sorted(boards.values(), key=lambda b: b.device_id):
        release = store.current(board.kind)
        running = versions.get(board.device_id)
        seen = store.progress(board.device_id)
        if release is None:
            state = "no release"
        elif running == release:
            state = "updated"
        elif seen.get("version") == release and seen.get("manifest_at"):
            state = f"fetched {seen.get('files', 0)} files; still on {running or '?'}"
        else:
            state = "offered"
        rows.append(
            {"device": board.device_id, "kind": board.kind, "running": running or "-"}
            | {"release": release or "-", "state": state}
        )
    return rows
