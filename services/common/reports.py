"""The contract between the web and the reporter: report ids, files and messages.

Both sides use this module and nothing of each other: the web builds requests
and reads stored results with it; the reporter validates requests, stores files
and announces results with it. The topics are ``Topics.report_*`` in
services.common.topics. docs/reports.md describes the same contract for people.
Every check raises ``InvalidReportMessage`` saying which field is wrong.
"""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from .errors import SmartcabError
from .timeutil import parse_rfc3339

# Ids and names end up in topic levels and file names: no '/', '+', '#', and no
# leading '.' or '_' (hidden files, and the reserved INVALID_ID).
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
INVALID_ID = "_invalid"  # the result topic of a request without a usable id
ROLES = ("patient", "doctor")  # who may ask on the requests topic
SCHEDULER_ROLE = "scheduler"  # weekly reports' requester
FLAGGED = ("mark", "exclude")
DEFAULT_PERIOD = {"days": 7}
REPORTS_FOLDER = "reports"  # a result's `file` starts with it; the default folder's name
WEEKLY_PREFIX = "weekly-"
OUT_OF_RANGE = "period must fall within the years 1 to 9999, in UTC and in the report's time zone"
NAME_RULE = "1-64 letters, digits, '.', '_' or '-'"


class InvalidReportMessage(SmartcabError):
    """A report id, request, result or file name breaks the contract."""


@dataclass(frozen=True)
class Format:
    """One kind of document: its media type and its file's extension."""

    media_type: str
    extension: str


FORMATS = {
    "pdf": Format("application/pdf", "pdf"),
    "csv": Format("text/csv", "csv"),
    "fhir": Format("application/fhir+json", "fhir.json"),
    # the medication record: one row per scheduled dose (docs/reports.md)
    "doses": Format("text/csv", "doses.csv"),
}
# An id ending in one of these would name another report's file: ``r.fhir``'s sidecar is
# ``r``'s FHIR file, ``r.doses``'s CSV is ``r``'s doses file.
_RESERVED_SUFFIX = ".fhir"
_RESERVED_SUFFIXES = (_RESERVED_SUFFIX, ".doses")


# --- ids and names ---


def is_report_id(value: object) -> bool:
    """Whether ``value`` may name a report (its topics and files)."""
    return (
        isinstance(value, str)
        and bool(ID_RE.match(value))
        and not value.endswith(_RESERVED_SUFFIXES)
    )


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is a usable report id."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise InvalidReportMessage(f"{what} is missing or not {NAME_RULE}")
    if value.endswith(_RESERVED_SUFFIXES):
        raise InvalidReportMessage(f"{what} may not end in {' or '.join(_RESERVED_SUFFIXES)}")
    return value


def check_name(value: object, what: str) -> str:
    """``value`` if it is a usable user name or Dr_ID (a folder and topic level)."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise InvalidReportMessage(f"{what} is missing or not {NAME_RULE}")
    return value


def new_id(prefix: str = "web") -> str:
    """A fresh id for one request: the asker's prefix and a random UUID."""
    return check_id(f"{prefix}-{uuid.uuid4().hex}")


def weekly_id(week: str) -> str:
    """The id of a patient's weekly report, one per ISO week (``weekly-2026-W47``)."""
    check_week(week)
    return f"{WEEKLY_PREFIX}{week}"


def is_weekly_id(report_id: object) -> bool:
    """Whether ``report_id`` names a weekly report (the scheduler's, not a person's)."""
    return is_report_id(report_id) and report_id.startswith(WEEKLY_PREFIX)


def id_of(payload: bytes) -> str:
    """The request's id if it has a usable one, for answering even a malformed request."""
    try:
        value = json.loads(payload).get("id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return INVALID_ID
    return value if is_report_id(value) else INVALID_ID


# --- topic levels ---


def weekly_name(patient: str, week: str) -> str:
    """The last level of a weekly announcement's topic: ``<patient>.weekly-<week>``."""
    return f"{patient}.{weekly_id(week)}"


# --- requests ---


@dataclass(frozen=True)
class Requester:
    role: str  # "patient", "doctor", or "scheduler" for weekly reports
    id: str

    def as_json(self) -> dict:
        return {"role": self.role, "id": self.id}

    def __str__(self) -> str:
        return f"{self.role} {self.id}"


SCHEDULER = Requester(SCHEDULER_ROLE, "weekly")


@dataclass(frozen=True)
class PeriodAsked:
    """A request's period as asked: N local days to today, one ISO week, or two instants."""

    days: int | None = None
    week: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def as_json(self) -> dict:
        if self.days is not None:
            return {"days": self.days}
        if self.week is not None:
            return {"week": self.week}
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def bounds(self, tz, now: datetime | None = None) -> tuple[datetime, datetime]:
        """``[start, end)`` with days and weeks counted in ``tz``."""
        if self.days is not None:
            return last_days(self.days, tz, now)
        if self.week is not None:
            return week_bounds(self.week, tz)
        return in_calendar(self.start, self.end, tz)


@dataclass(frozen=True)
class RequestMessage:
    """One request on the requests topic, every field checked."""

    id: str
    requester: Requester
    patient: str
    format: str = "pdf"
    period: PeriodAsked = PeriodAsked(days=7)
    flagged: str = "mark"

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "requester": self.requester.as_json(),
            "patient": self.patient,
            "format": self.format,
            "period": self.period.as_json(),
            "flagged": self.flagged,
        }


def check_week(week: object) -> date:
    """The Monday of the ISO week ``YYYY-Www``."""
    match = WEEK_RE.match(week) if isinstance(week, str) else None
    if not match:
        raise InvalidReportMessage("period.week must look like 2026-W47")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise InvalidReportMessage(f"no such week: {week}") from exc
    try:
        monday + timedelta(days=7)
    except OverflowError as exc:  # 9999-W52 ends in the year 10000
        raise InvalidReportMessage(OUT_OF_RANGE) from exc
    return monday


def parse_period(body: object, max_days: int | None = None) -> PeriodAsked:
    """``{"days": N}``, ``{"week": "2026-W47"}`` or ``{"start", "end"}`` (RFC 3339, zoned)."""
    if not isinstance(body, dict):
        raise InvalidReportMessage(
            'period must be an object: {"days": 7}, {"start", "end"} or {"week"}'
        )
    if "days" in body:
        days = body["days"]
        most = max_days or 100_000
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= most:
            raise InvalidReportMessage(f"period.days must be a whole number from 1 to {most}")
        return PeriodAsked(days=days)
    if "week" in body:
        check_week(body["week"])
        return PeriodAsked(week=body["week"])
    try:
        start, end = parse_rfc3339(body["start"]), parse_rfc3339(body["end"])
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+14:00, before the year 1 in UTC
        raise InvalidReportMessage(OUT_OF_RANGE) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidReportMessage(
            "period needs days, week, or start and end as RFC 3339 times with a zone"
        ) from exc
    if end <= start:
        raise InvalidReportMessage("period.end must be after period.start")
    if max_days is not None and end - start > timedelta(days=max_days):
        raise InvalidReportMessage(f"a period may cover at most {max_days} days")
    return PeriodAsked(start=start, end=end)


def parse_request(payload: bytes | dict, max_days: int | None = None) -> RequestMessage:
    """A request's JSON (bytes or already parsed), checked field by field."""
    body = payload
    if not isinstance(payload, dict):
        try:
            body = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidReportMessage(f"the request is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidReportMessage("the request must be a JSON object")
    request_id = check_id(body.get("id"))
    who = body.get("requester")
    if not isinstance(who, dict) or who.get("role") not in ROLES:
        raise InvalidReportMessage('requester must be {"role": "patient" or "doctor", "id": ...}')
    requester = Requester(who["role"], check_name(who.get("id"), "requester.id"))
    patient = check_name(body.get("patient"), "patient")
    fmt = body.get("format", "pdf")
    if fmt not in FORMATS:
        raise InvalidReportMessage(f"format must be one of {', '.join(FORMATS)}")
    flagged = body.get("flagged", "mark")
    if flagged not in FLAGGED:
        raise InvalidReportMessage("flagged must be mark or exclude")
    period = parse_period(body.get("period", DEFAULT_PERIOD), max_days)
    return RequestMessage(request_id, requester, patient, fmt, period, flagged)


def request_message(
    requester: Requester, patient: str, fmt: str, period: dict, request_id: str | None = None
) -> dict:
    """A checked request ready to publish, with a fresh id unless one is given."""
    body = {
        "id": request_id or new_id(),
        "requester": requester.as_json(),
        "patient": patient,
        "format": fmt,
        "period": period,
    }
    parse_request(body)
    return body


# --- periods in the reporter's time zone ---


def last_days(days: int, tz, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The ``days`` whole local days up to and including today."""
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    after = today + timedelta(days=1)
    return (
        datetime(first.year, first.month, first.day, tzinfo=tz),
        datetime(after.year, after.month, after.day, tzinfo=tz),
    )


def week_bounds(week: str, tz) -> tuple[datetime, datetime]:
    """The ISO week ``YYYY-Www`` from local Monday 00:00 to the next Monday."""
    monday = check_week(week)
    nxt = monday + timedelta(days=7)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    return in_calendar(start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz), tz)


def in_calendar(start: datetime, end: datetime, tz) -> tuple[datetime, datetime]:
    """``(start, end)``, if both exist in UTC (the queries) and in ``tz`` (the report)."""
    try:
        for moment in (start, end):
            moment.astimezone(UTC)
            moment.astimezone(tz)
    except OverflowError as exc:
        raise InvalidReportMessage(OUT_OF_RANGE) from exc
    return start, end


def previous_week(now: datetime | None = None) -> str:
    """The ISO week before the one ``now`` falls in (UTC), e.g. ``2026-W47``."""
    year, week, _ = ((now or datetime.now(UTC)) - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


# --- results ---


def progress(request_id: str, stage: str = "accepted") -> dict:
    """What the progress topic carries while a request is being served."""
    return {"id": request_id, "stage": stage}


def failure(request_id: str, code: str, reason: str) -> dict:
    """A refused or failed request's result; ``code`` is one of docs/reports.md's errors."""
    return {"id": request_id, "ok": False, "error": code, "reason": reason}


def success(
    request_id: str,
    requester: Requester,
    patient: str,
    fmt: str,
    bounds: tuple[datetime, datetime],
    stored: dict,
    created: datetime | None = None,
) -> dict:
    """A served request's result: what was made, for whom, and where its file is."""
    return check_result(
        {
            "id": request_id,
            "ok": True,
            "patient": patient,
            "requester": requester.as_json(),
            "format": fmt,
            "media_type": FORMATS[fmt].media_type,
            "period": {"start": bounds[0].isoformat(), "end": bounds[1].isoformat()},
            "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
            **stored,
        }
    )


_KINDS = {bool: "true or false", str: "a string", int: "a whole number", dict: "an object"}


def _field(body: dict, key: str, kind: type, what: str = "") -> object:
    value = body.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidReportMessage(f"{what or key} is missing or not {_KINDS[kind]}")
    return value


def check_result(body: object, complete: bool = True) -> dict:
    """``body`` if it is a result as the reporter announces and stores it (extra keys allowed).

    ``complete=False`` is for a reader that needs only whose report it is, its
    format and its file: the other fields may then be absent, but are checked if there.
    """
    if not isinstance(body, dict):
        raise InvalidReportMessage("a result must be a JSON object")
    if body.get("id") != INVALID_ID:  # a malformed request's answer has no id of its own
        check_id(body.get("id"))
    if _field(body, "ok", bool) is False:
        _field(body, "error", str)
        _field(body, "reason", str)
        return body
    check_name(body.get("patient"), "patient")
    fmt = body.get("format")
    if fmt not in FORMATS:
        raise InvalidReportMessage(f"format must be one of {', '.join(FORMATS)}")
    _field(body, "file", str)
    _check_details(body, fmt, lambda key: complete or key in body)
    return body


def _check_details(body: dict, fmt: str, wanted) -> None:
    if wanted("requester"):
        who = _field(body, "requester", dict)
        if who.get("role") not in (*ROLES, SCHEDULER_ROLE):
            raise InvalidReportMessage("requester.role must be patient, doctor or scheduler")
        check_name(who.get("id"), "requester.id")
    if wanted("media_type") and body.get("media_type") != FORMATS[fmt].media_type:
        raise InvalidReportMessage(f"media_type of a {fmt} must be {FORMATS[fmt].media_type}")
    if wanted("period"):
        period = _field(body, "period", dict)
        for end in ("start", "end"):
            _field(period, end, str, f"period.{end}")
    if wanted("created"):
        _field(body, "created", str)
    if wanted("sha256") and not SHA256_RE.match(str(body.get("sha256"))):
        raise InvalidReportMessage("sha256 must be 64 lowercase hex digits")
    if wanted("size") and _field(body, "size", int) < 0:
        raise InvalidReportMessage("size must not be negative")


# --- files ---


@dataclass(frozen=True)
class ReportFiles:
    """Where reports live: ``<root>/<patient>/<id>.<ext>`` and ``<id>.json``.

    ``root`` is ``SMARTCAB_REPORTS_DIR`` (``$SMARTCAB_DATA_DIR/reports`` unless set).
    The ``.json`` beside each file is its result as announced, so a patient's
    reports can be listed from disk. Results name their file as ``reports/`` and
    the path under the root (``reports/alice/<id>.pdf``), wherever the root is.
    """

    root: Path

    def folder(self, patient: str) -> Path:
        return self.root / check_name(patient, "patient")

    def sidecar(self, patient: str, report_id: str) -> Path:
        """The stored result of one report."""
        return self.folder(patient) / f"{check_id(report_id)}.json"

    def document(self, patient: str, report_id: str, fmt: str) -> Path:
        if fmt not in FORMATS:
            raise InvalidReportMessage(f"format must be one of {', '.join(FORMATS)}")
        return self.folder(patient) / f"{check_id(report_id)}.{FORMATS[fmt].extension}"

    def relative(self, path: Path) -> str:
        """``path`` as a result's ``file`` names it."""
        return f"{REPORTS_FOLDER}/{path.relative_to(self.root).as_posix()}"

    def locate(self, patient: str, file: object) -> Path | None:
        """The existing file a result's ``file`` names, only if it is in the patient's folder."""
        prefix = f"{REPORTS_FOLDER}/"
        if not isinstance(file, str) or not file.startswith(prefix):
            return None
        folder = self.folder(patient).resolve()
        path = (self.root / file.removeprefix(prefix)).resolve()
        return path if path.parent == folder and path.is_file() else None

    def ids(self, patient: str) -> list[str]:
        """The ids of the patient's stored results (whatever their state)."""
        folder = self.folder(patient)
        if not folder.is_dir():
            return []
        suffix = f"{_RESERVED_SUFFIX}.json"
        return [
            p.stem
            for p in folder.glob("*.json")
            if not p.name.endswith(suffix) and is_report_id(p.stem)
        ]
