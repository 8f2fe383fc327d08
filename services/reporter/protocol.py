"""Report requests as the reporter serves them: the contract's checks, periods in its zone.

The ids and messages themselves are the web's and the reporter's shared
contract (``services.common.reports``, docs/reports.md; the topics are
``Topics.report_*``); this module turns a
request into the period the reporter renders, and the contract's complaints
into ``BadRequest``.
"""

from dataclasses import dataclass, replace
from datetime import datetime

from services.common import reports
from services.common.reports import INVALID_ID, Requester, previous_week

from .errors import BadRequest
from .model import Period

__all__ = ["INVALID_ID", "ReportRequest", "Requester", "previous_week"]


@dataclass(frozen=True)
class ReportRequest:
    id: str
    requester: Requester
    patient: str
    period: Period
    format: str = "pdf"
    flagged: str = "mark"
    asked: reports.PeriodAsked | None = None  # the period as asked, to count in another zone

    def in_zone(self, tz, now: datetime | None = None) -> "ReportRequest":
        """This request with its days counted in ``tz``: the patient's own."""
        if self.asked is None:
            return self
        try:
            return replace(self, period=Period(*self.asked.bounds(tz, now)))
        except reports.InvalidReportMessage as exc:
            raise BadRequest(str(exc)) from exc


def request_id_of(payload: bytes) -> str:
    """The request's id if it has a usable one, for answering even a malformed request."""
    return reports.id_of(payload)


def last_days(days: int, tz, now: datetime | None = None) -> Period:
    """The ``days`` whole local days up to and including today."""
    return Period(*reports.last_days(days, tz, now))


def parse_period(body, tz, max_days: int, now: datetime | None = None) -> Period:
    """``{"days": N}`` (whole local days to today), ``{"start", "end"}`` or ``{"week"}``."""
    try:
        return Period(*reports.parse_period(body, max_days).bounds(tz, now))
    except reports.InvalidReportMessage as exc:
        raise BadRequest(str(exc)) from exc


def week_period(week, tz) -> Period:
    """The ISO week ``YYYY-Www`` from local Monday 00:00 to the next Monday."""
    try:
        return Period(*reports.week_bounds(week, tz))
    except reports.InvalidReportMessage as exc:
        raise BadRequest(str(exc)) from exc


def parse_request(payload: bytes, tz, max_days: int, now: datetime | None = None) -> ReportRequest:
    """Validate a request; raise BadRequest saying what is wrong."""
    try:
        asked = reports.parse_request(payload, max_days)
        start, end = asked.period.bounds(tz, now)
    except reports.InvalidReportMessage as exc:
        raise BadRequest(str(exc)) from exc
    return ReportRequest(
        asked.id,
        asked.requester,
        asked.patient,
        Period(start, end),
        asked.format,
        asked.flagged,
        asked.period,
    )
