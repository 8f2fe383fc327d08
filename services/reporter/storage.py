"""Report files where the contract puts them (``services.common.reports.ReportFiles``).

``<id>.<ext>`` is the file, ``<id>.json`` the result that was announced for it
(with sha256 and size), so the web can list a patient's reports from disk and
a redelivered request is answered again without rendering twice. Files are
written to a temporary name and renamed, so nobody ever sees half a report.
"""

import hashlib
import json
import os
from pathlib import Path

from services.common.reports import InvalidReportMessage, ReportFiles, check_result


def load(files: ReportFiles, patient: str, report_id: str) -> dict | None:
    """The stored result of an earlier request with this id, if its file is still there."""
    try:
        meta = check_result(json.loads(files.sidecar(patient, report_id).read_text()))
    except (OSError, ValueError, InvalidReportMessage):
        return None
    return meta if meta.get("ok") and files.locate(patient, meta["file"]) else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def store(files: ReportFiles, patient: str, report_id: str, fmt: str, data: bytes) -> dict:
    """Write the file; return its path relative to the data dir, sha256 and size."""
    path = files.document(patient, report_id, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, data)
    return {
        "file": files.relative(path),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def save_meta(files: ReportFiles, patient: str, report_id: str, meta: dict) -> None:
    path = files.sidecar(patient, report_id)
    _write_atomic(path, json.dumps(meta, indent=1, ensure_ascii=False).encode())
