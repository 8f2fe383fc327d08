"""Report jobs: requests for the reporter, their progress, and the files it stored."""

import json
import re
import uuid
from pathlib import Path

from .errors import ValidationError

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FORMATS = {"pdf": "PDF report", "csv": "CSV export", "fhir": "FHIR export"}
PERIODS = (7, 30, 90)


def new_request(requester, patient: str, fmt: str, days: int) -> dict:
    """A request as docs/reports.md defines it; the requester comes from the signed-in user."""
    if fmt not in FORMATS:
        raise ValidationError("Choose PDF, CSV or FHIR.")
    if days not in PERIODS:
        raise ValidationError("Choose 7, 30 or 90 days.")
    who = (
        {"role": "doctor", "id": requester.dr_id}
        if requester.role == "doctor"
        else {"role": "patient", "id": requester.username}
    )
    return {
        "id": f"web-{uuid.uuid4().hex}",
        "requester": who,
        "patient": patient,
        "format": fmt,
        "period": {"days": days},
    }


def _folder(data_dir: Path, patient: str) -> Path:
    return data_dir / "reports" / patient


def stored_result(data_dir: Path, patient: str, report_id: str) -> dict | None:
    """The result the reporter wrote beside the file, if this id is one of the patient's."""
    if not ID_RE.match(report_id):
        return None
    path = _folder(data_dir, patient) / f"{report_id}.json"
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("patient") == patient else None


def listing(data_dir: Path, patient: str, limit: int = 10) -> list[dict]:
    """The patient's stored reports and exports, newest first."""
    folder = _folder(data_dir, patient)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        if path.name.endswith(".fhir.json"):
            continue
        result = stored_result(data_dir, patient, path.stem)
        if result and result.get("ok"):
            found.append(result)
    found.sort(key=lambda r: str(r.get("created", "")), reverse=True)
    return found[:limit]


def file_of(data_dir: Path, patient: str, report_id: str) -> tuple[Path, dict] | None:
    """The report's file (inside the patient's folder only) and its result."""
    result = stored_result(data_dir, patient, report_id)
    if not result or not result.get("ok") or not isinstance(result.get("file"), str):
        return None
    folder = _folder(data_dir, patient).resolve()
    path = (data_dir / result["file"]).resolve()
    if path.parent != folder or not path.is_file():
        return None
    return path, result
