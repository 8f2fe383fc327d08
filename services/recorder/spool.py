"""A bounded on-disk spool of line-protocol batches, for while InfluxDB is away.

Each batch is one file, written to a temporary name, fsynced and renamed, so
after a crash a file is either whole or absent. Files are replayed oldest first.
A batch replayed twice is harmless: points carry the gateway's timestamps, so
InfluxDB overwrites instead of duplicating.
"""

import fcntl
import os
from pathlib import Path

from services.common.errors import ConfigError, SmartcabError


class SpoolFull(SmartcabError):
    """The spool has reached its size limit; the caller must hold on to the batch."""


class SpoolBusy(ConfigError):
    """Another recorder already uses this spool (give each its own SMARTCAB_DATA_DIR)."""


class Spool:
    """Owned by one thread (the recorder's writer); not thread-safe by design."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        # Two recorders appending to one spool would overwrite each other's files.
        self._lock = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock)
            raise SpoolBusy(
                f"another recorder uses {directory}; give each its own SMARTCAB_DATA_DIR"
            ) from exc
        for leftover in directory.glob("*.tmp"):
            leftover.unlink()  # a write cut short by a crash; its messages were never acked
        self._files = sorted(directory.glob("*.lp"))
        self.bytes = sum(f.stat().st_size for f in self._files)
        self._seq = int(self._files[-1].stem) + 1 if self._files else 0

    def close(self) -> None:
        """Release the spool for another process."""
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def __len__(self) -> int:
        return len(self._files)

    def append(self, lines: list[str]) -> Path:
        """Store a batch durably, or raise SpoolFull."""
        data = ("\n".join(lines) + "\n").encode()
        if self.bytes + len(data) > self.max_bytes:
            raise SpoolFull(
                f"spool holds {self.bytes} bytes; {len(data)} more would pass {self.max_bytes}"
            )
        path = self.directory / f"{self._seq:020d}.lp"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(path)
        self._fsync_dir()
        self._seq += 1
        self._files.append(path)
        self.bytes += len(data)
        return path

    def oldest(self) -> tuple[Path, list[str]] | None:
        if not self._files:
            return None
        path = self._files[0]
        return path, path.read_text(encoding="utf-8").splitlines()

    def remove(self, path: Path) -> None:
        size = path.stat().st_size
        path.unlink()
        self._files.remove(path)
        self.bytes -= size

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
