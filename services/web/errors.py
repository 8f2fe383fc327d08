"""The web service's own errors."""

from services.common.errors import SmartcabError


class WebError(SmartcabError):
    """Base class for the web service's errors."""


class ValidationError(WebError):
    """Input a person typed is not acceptable; the message is safe to show them."""


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
