"""The web service's own errors."""

from services.common.errors import SmartcabError


class WebError(SmartcabError):
    """Base class for the web service's errors."""


class ValidationError(WebError):
    """Input a person typed is not acceptable; the message is safe to show them."""


class FieldError(ValidationError):
    """One field of a form is not acceptable: the page shows the message at that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(WebError):
    """No such user, device or token."""


class AccessDenied(WebError):
    """The signed-in person may not see or do this."""


class Throttled(WebError):
    """Too many failed attempts for this account or address; try again later."""


class DataUnavailable(WebError):
    """The history database cannot answer right now."""


class RangeTooLarge(WebError):
    """A download would hold more readings than it may; a shorter range will do."""


class RateLimited(Throttled):
    """One person asked for a costly action too often; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after
