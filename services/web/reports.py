"""Report jobs: requests for the reporter, their progress, and the files it stored.

Ids, messages and the file layout are the reporter's and the web's shared
contract (``services.common.reports``, docs/reports.md); this module adds what
the report page offers and reads the results the reporter stored.
"""

import json
import time
from pathlib import Path

from services.common import reports
from services.common.database import Connection
from services.common.reports import InvalidReportMessage, ReportFiles, Requester

from .errors import ValidationError

FORMATS = {
    "pdf": "PDF report",
    "csv": "CSV export",
    "fhir": "FHIR export",
    "doses": "Doses CSV",
}
PERIODS = (7, 30, 90)
KEEP_REQUESTS_S = 7 * 86400  # after that, the stored result alone answers
# Migration 11: which patient each request is for, so every web instance can answer
# about a request another one sent.
MIGRATION = """
CREATE TABLE report_requests (
    id TEXT PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    requested_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at INTEGER NOT NULL
)
"""


def remember(conn: Connection, job: dict, patient_id: int, requester_id: int) -> None:
    """Keep the request's patient where every web instance finds it."""
    now = int(time.time())
    conn.execute("DELETE FROM report_requests WHERE at < ?", (now - KEEP_REQUESTS_S,))
    conn.execute(
        "INSERT INTO report_requests (id, patient_id, requested_by, at) VALUES (?, ?, ?, ?)",
        (job["id"], patient_id, requester_id, now),
    )


def requested_for(conn: Connection, report_id: str, patient_id: int) -> bool:
    """This id was asked for this patient (by any web instance)."""
    row = conn.execute(
        "SELECT 1 FROM report_requests WHERE id = ? AND patient_id = ?", (report_id, patient_id)
    ).fetchone()
    return row is not None


def new_request(requester, patient: str, fmt: str, days: int) -> dict:
    """A request as docs/reports.md defines it; the requester comes from the signed-in user."""
    if fmt not in FORMATS:
        raise ValidationError("Choose PDF, CSV, FHIR or the doses CSV.")
    if days not in PERIODS:
        raise ValidationError("Choose 7, 30 or 90 days.")
    who = (
        Requester("doctor", requester.dr_id)
        if requester.role == "doctor"
        else Requester("patient", requester.username)
    )
    try:
        return reports.request_message(who, patient, fmt, {"days": days})
    except InvalidReportMessage as exc:
        raise ValidationError(f"This report cannot be asked for: {exc}.") from exc


def stored_result(reports_dir: Path, patient: str, report_id: str) -> dict | None:
    """The result the reporter wrote beside the file, if this id is one of the patient's."""
    try:
        path = ReportFiles(reports_dir).sidecar(patient, report_id)
        result = reports.check_result(json.loads(path.read_text()), complete=False)
    except (OSError, ValueError, InvalidReportMessage):
        return None
    return result if result.get("patient") == patient else None


def listing(reports_dir: Path, patient: str, limit: int = 10) -> list[dict]:
    """The patient's stored reports and exports, newest first."""
    try:
        ids = ReportFiles(reports_dir).ids(patient)
    except InvalidReportMessage:
        return []
    found = []
    for report_id in ids:
        result = stored_result(reports_dir, patient, report_id)
        if result and result.get("ok"):
            found.append(result)
    found.sort(key=lambda r: str(r.get("created", "")), reverse=True)
    return found[:limit]


def file_of(reports_dir: Path, patient: str, report_id: str) -> tuple[Path, dict] | None:
    """The report's file (inside the patient's folder only) and its result."""
    result = stored_result(reports_dir, patient, report_id)
    if not result or not result.get("ok"):
        return None
    path = ReportFiles(reports_dir).locate(patient, result["file"])
    return (path, result) if path else None
