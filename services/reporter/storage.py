"""Report files under ``$SMARTCAB_DATA_DIR/reports/<patient>/``, each with a JSON sidecar.

``<id>.<ext>`` is the file, ``<id>.json`` the result that was announced for it
(with sha256 and size), so the web can list a patient's reports from disk and
a redelivered request is answered again without rendering twice. Files are
written to a temporary name and renamed, so nobody ever sees half a report.
"""

import hashlib
import json
import os
from pathlib import Path


def folder(reports_dir: Path, patient: str) -> Path:
    return reports_dir / patient


def sidecar(reports_dir: Path, patient: str, report_id: str) -> Path:
    return folder(reports_dir, patient) / f"{report_id}.json"


def load(reports_dir: Path, patient: str, report_id: str) -> dict | None:
    """The stored result of an earlier request with this id, if its file is still there."""
    path = sidecar(reports_dir, patient, report_id)
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    data_dir = reports_dir.parent
    return meta if (data_dir / meta.get("file", "")).is_file() else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def store(reports_dir: Path, patient: str, report_id: str, ext: str, data: bytes) -> dict:
    """Write the file; return its path relative to the data dir, sha256 and size."""
    where = folder(reports_dir, patient)
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{report_id}.{ext}"
    _write_atomic(path, data)
    return {
        "file": str(path.relative_to(reports_dir.parent)),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def save_meta(reports_dir: Path, patient: str, report_id: str, meta: dict) -> None:
    path = sidecar(reports_dir, patient, report_id)
    _write_atomic(path, json.dumps(meta, indent=1, ensure_ascii=False).encode())
