"""The reporter's exceptions; each maps to an ``error`` code in a result message."""

from services.common.errors import SmartcabError


class ReporterError(SmartcabError):
    """Base class; ``code`` is what a refused request's result carries."""

    code = "failed"


class BadRequest(ReporterError):
    """The request is malformed: not JSON, a missing field, an unknown format or period."""

    code = "bad_request"


class Forbidden(ReporterError):
    """The requester may not see this patient (also for unknown patients, to reveal nothing)."""

    code = "forbidden"


class DirectoryUnavailable(ReporterError):
    """The web's SQLite database (users, shares, devices) cannot be read."""

    code = "directory_unavailable"


class HistoryUnavailable(ReporterError):
    """InfluxDB did not answer or refused the reporter's queries."""

    code = "history_unavailable"


class Busy(ReporterError):
    """Too many requests are waiting already."""

    code = "busy"
