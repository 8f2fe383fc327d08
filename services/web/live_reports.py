"""Reports followed through the reporter's progress and results, whoever sent them.

Every web instance hears every report's progress, so a page polling another instance
than the one it asked through still sees the stage; which patient a request is for is
the database's (``reports.requested_for``), not this memory's.
"""

import json
import logging
import threading
from collections.abc import Callable

from services.common import logs

log = logging.getLogger(__name__)

REPORTS_FOLLOWED = 1000


def _json_object(payload: bytes) -> dict | None:
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class ReportTracker:
    """Each request's stage (``sent``, the reporter's stages, ``done``), freshest first kept."""

    def __init__(self, limit: int = REPORTS_FOLLOWED) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._reports: dict[str, dict] = {}

    def sent(self, report_id: str, patient: str) -> None:
        with self._lock:
            # Followed in memory only while fresh; the reporter's stored result answers later.
            self._keep(report_id, {"id": report_id, "stage": "sent", "patient": patient})

    def state(self, report_id: str) -> dict | None:
        with self._lock:
            found = self._reports.get(report_id)
            return dict(found) if found else None

    def _keep(self, report_id: str, state: dict) -> None:
        self._reports[report_id] = state
        while len(self._reports) > self.limit:  # the oldest first
            self._reports.pop(next(iter(self._reports)))

    def progress(self, report_id: str, payload: bytes) -> None:
        """The reporter's ``reports/progress/<id>``: a new stage, unless already done."""
        body = _json_object(payload)
        if body is None:
            return
        with self._lock:
            asked = self._reports.get(report_id, {"id": report_id, "patient": None})
            if asked.get("stage") != "done":
                self._keep(report_id, {**asked, "stage": str(body.get("stage", "accepted"))})

    def result(self, report_id: str, payload: bytes) -> None:
        """The reporter's ``reports/results/<id>``: the request is done."""
        body = _json_object(payload)
        if body is None:
            return
        with self._lock:
            asked = self._reports.get(report_id, {"patient": None})
            self._keep(report_id, {**body, "patient": asked["patient"], "stage": "done"})


class AuditForwarder:
    """The reporter's verdicts on doctors' requests, handed to the web's audit log."""

    def __init__(self, save: Callable[[dict], None] | None) -> None:
        self._save = save

    def forward(self, payload: bytes) -> None:
        if self._save is None:
            return
        try:
            body = json.loads(payload)
            entry = {
                "at": int(body["at"]),
                "role": str(body["actor"]["role"]),
                "actor": str(body["actor"]["id"]),
                "patient": str(body["patient"]),
                "action": str(body["action"]),
                "ok": bool(body["ok"]),
                "error": body.get("error"),
            }
        except (ValueError, KeyError, TypeError):
            return
        try:
            self._save(entry)
        except Exception as exc:  # the broker connection must survive a database hiccup
            logs.event(log, logging.ERROR, "web.report_audit_not_saved", error=exc)
