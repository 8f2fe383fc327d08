"""Report requests and results over MQTT: topics, parsing and the payloads announced.

docs/reports.md is the reference for the web and the scheduler.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services.common.timeutil import parse_rfc3339

from .errors import BadRequest
from .model import Period

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
ROLES = ("patient", "doctor")
FORMATS = {"pdf": "application/pdf", "csv": "text/csv", "fhir": "application/fhir+json"}
EXTENSIONS = {"pdf": "pdf", "csv": "csv", "fhir": "fhir.json"}
INVALID_ID = "_invalid"
OUT_OF_RANGE = "period must fall within the years 1 to 9999, in UTC and in the report's time zone"


@dataclass(frozen=True)
class ReportTopics:
    """The reporter's topics under the root."""

    root: str = "smartcab"

    @property
    def requests(self) -> str:
        return f"{self.root}/reports/requests"

    @property
    def weekly(self) -> str:
        return f"{self.root}/reports/jobs/weekly"

    def progress(self, request_id: str) -> str:
        return f"{self.root}/reports/progress/{request_id}"

    def result(self, request_id: str) -> str:
        return f"{self.root}/reports/results/{request_id}"

    def doctor(self, dr_id: str, request_id: str) -> str:
        return f"{self.root}/reports/doctors/{dr_id}/{request_id}"

    @property
    def audit(self) -> str:
        return f"{self.root}/reports/audit"


@dataclass(frozen=True)
class Requester:
    role: str  # "patient", "doctor", or "scheduler" for weekly reports
    id: str

    def as_json(self) -> dict:
        return {"role": self.role, "id": self.id}

    def __str__(self) -> str:
        return f"{self.role} {self.id}"


@dataclass(frozen=True)
class ReportRequest:
    id: str
    requester: Requester
    patient: str
    period: Period
    format: str = "pdf"
    flagged: str = "mark"


def request_id_of(payload: bytes) -> str:
    """The request's id if it has a usable one, for answering even a malformed request."""
    try:
        value = json.loads(payload).get("id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return INVALID_ID
    return value if isinstance(value, str) and ID_RE.match(value) else INVALID_ID


def _text(body: dict, key: str, pattern: re.Pattern, what: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise BadRequest(f"{what} is missing or not 1-64 letters, digits, '.', '_' or '-'")
    return value


def last_days(days: int, tz, now: datetime | None = None) -> Period:
    """The ``days`` whole local days up to and including today."""
    today = (now or datetime.now(UTC)).astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    after = today + timedelta(days=1)
    return Period(
        datetime(first.year, first.month, first.day, tzinfo=tz),
        datetime(after.year, after.month, after.day, tzinfo=tz),
    )


def parse_period(body, tz, max_days: int, now: datetime | None = None) -> Period:
    """``{"days": N}`` (whole local days to today), ``{"start", "end"}`` or ``{"week"}``."""
    if not isinstance(body, dict):
        raise BadRequest('period must be an object: {"days": 7}, {"start", "end"} or {"week"}')
    if "days" in body:
        days = body["days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= max_days:
            raise BadRequest(f"period.days must be a whole number from 1 to {max_days}")
        return last_days(days, tz, now)
    if "week" in body:
        return week_period(body["week"], tz)
    try:
        start, end = parse_rfc3339(body["start"]), parse_rfc3339(body["end"])
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+14:00, before the year 1 in UTC
        raise BadRequest(OUT_OF_RANGE) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequest(
            "period needs days, week, or start and end as RFC 3339 times with a zone"
        ) from exc
    if end <= start:
        raise BadRequest("period.end must be after period.start")
    if end - start > timedelta(days=max_days):
        raise BadRequest(f"a period may cover at most {max_days} days")
    return _in_calendar(Period(start, end), tz)


def week_period(week, tz) -> Period:
    """The ISO week ``YYYY-Www`` from local Monday 00:00 to the next Monday."""
    match = WEEK_RE.match(week) if isinstance(week, str) else None
    if not match:
        raise BadRequest("period.week must look like 2026-W47")
    try:
        monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise BadRequest(f"no such week: {week}") from exc
    try:
        nxt = monday + timedelta(days=7)
    except OverflowError as exc:  # 9999-W52 ends in the year 10000
        raise BadRequest(OUT_OF_RANGE) from exc
    start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    return _in_calendar(Period(start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)), tz)


def _in_calendar(period: Period, tz) -> Period:
    """The period, if both ends exist in UTC (the queries) and in ``tz`` (the report)."""
    try:
        for moment in (period.start, period.end):
            moment.astimezone(UTC)
            moment.astimezone(tz)
    except OverflowError as exc:
        raise BadRequest(OUT_OF_RANGE) from exc
    return period


def previous_week(now: datetime | None = None) -> str:
    """The ISO week before the one ``now`` falls in (UTC), e.g. ``2026-W47``."""
    year, week, _ = ((now or datetime.now(UTC)) - timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def parse_request(payload: bytes, tz, max_days: int, now: datetime | None = None) -> ReportRequest:
    """Validate a request; raise BadRequest saying what is wrong."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("the request must be a JSON object")
    request_id = _text(body, "id", ID_RE, "id")
    who = body.get("requester")
    if not isinstance(who, dict) or who.get("role") not in ROLES:
        raise BadRequest('requester must be {"role": "patient" or "doctor", "id": ...}')
    requester = Requester(who["role"], _text(who, "id", NAME_RE, "requester.id"))
    patient = _text(body, "patient", NAME_RE, "patient")
    fmt = body.get("format", "pdf")
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}")
    flagged = body.get("flagged", "mark")
    if flagged not in ("mark", "exclude"):
        raise BadRequest("flagged must be mark or exclude")
    period = parse_period(body.get("period", {"days": 7}), tz, max_days, now)
    return ReportRequest(request_id, requester, patient, period, fmt, flagged)


def failure(request_id: str, code: str, reason: str) -> dict:
    return {"id": request_id, "ok": False, "error": code, "reason": reason}
