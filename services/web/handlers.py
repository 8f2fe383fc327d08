"""App-level error handlers: each of the project's errors becomes a status and a page or JSON."""

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, default_exceptions

from services.common import logs
from services.common.database import DatabaseError
from services.common.errors import MqttError

from .errors import (
    AccessDenied,
    DataUnavailable,
    NotFound,
    RangeTooLarge,
    Throttled,
    ValidationError,
    WebError,
)
from .live_listeners import TooManyListeners

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of gives its status.
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ValidationError, 400),
    (RangeTooLarge, 400),
    (AccessDenied, 403),
    (NotFound, 404),
    (Throttled, 429),
    (DataUnavailable, 503),
    (TooManyListeners, 503),
    (MqttError, 503),
    (DatabaseError, 503),
    (WebError, 400),
)
BROKER_AWAY = "The message could not be sent to the broker; try again shortly."
DATABASE_AWAY = "The database cannot be reached just now; nothing was changed. Try again shortly."


def status_of(exc: Exception) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def message_of(exc: Exception) -> str:
    """What the person is told; a broker's own error text is for the log, not for them."""
    if isinstance(exc, MqttError):
        return BROKER_AWAY
    return DATABASE_AWAY if isinstance(exc, DatabaseError) else str(exc)


def wants_json() -> bool:
    """APIs, and scripts posting a form with ``Accept: application/json``, get JSON."""
    return request.path.startswith("/api/") or request.headers.get("Accept") == "application/json"


def json_error(exc: Exception):
    """``error`` and ``detail`` both carry the message, as for an HTTP error's description."""
    message = message_of(exc)
    return jsonify(error=message, detail=message), status_of(exc)


def http_error(exc: HTTPException):
    if wants_json():
        return {"error": exc.name, "detail": exc.description}, exc.code
    return render_template("error.html", error=exc), exc.code


def note(exc: Exception) -> None:
    """Log what the operator should hear of: the broker or the database failing."""
    if isinstance(exc, MqttError):
        logs.event(log, logging.ERROR, "web.broker_unavailable", path=request.path, error=exc)
    elif isinstance(exc, DatabaseError):
        logs.event(log, logging.ERROR, "web.database_unavailable", path=request.path, error=exc)


def project_error(exc: Exception):
    """One of the project's errors that no page shows in its own form."""
    note(exc)
    if wants_json():
        return json_error(exc)
    return http_error(default_exceptions[status_of(exc)](description=message_of(exc)))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(WebError, project_error)
    app.register_error_handler(MqttError, project_error)
    app.register_error_handler(DatabaseError, project_error)
