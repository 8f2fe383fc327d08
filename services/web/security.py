"""Per-request security: the session cookie, CSRF, response headers and role checks."""

import functools
import hmac
import logging

from flask import Flask, abort, current_app, g, redirect, request, url_for

from services.common import logs

from . import accounts, sessions
from .db import get_db

log = logging.getLogger(__name__)

COOKIE = "hp_session"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def current_session() -> sessions.Session:
    """The visitor's session, creating an anonymous one so forms can carry a CSRF token."""
    if g.session is None:
        g.session = sessions.create(get_db(), None, current_app.config["SESSION_HOURS"])
        g.set_cookie = True
    return g.session


def csrf_token() -> str:
    return current_session().csrf


def start_user_session(user: accounts.User) -> None:
    """Sign in: drop the old session and issue a fresh id (no session fixation)."""
    conn = get_db()
    if g.session is not None:
        sessions.destroy(conn, g.session.token)
    g.session = sessions.create(conn, user.id, current_app.config["SESSION_HOURS"])
    g.user = user
    g.set_cookie = True


def end_session() -> None:
    if g.session is not None:
        sessions.destroy(get_db(), g.session.token)
        hub = current_app.extensions.get("smartcab.hub")
        if hub is not None:
            hub.end_session(g.session.token)
    g.session = None
    g.user = None
    g.clear_cookie = True


def _load_session() -> None:
    g.set_cookie = g.clear_cookie = False
    g.user = None
    if request.endpoint == "static":
        g.session = None
        return
    conn = get_db()
    g.session = sessions.load(conn, request.cookies.get(COOKIE))
    if g.session is not None and g.session.user_id is not None:
        g.user = accounts.get(conn, g.session.user_id)


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = g.session.csrf if g.session is not None else ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        logs.event(log, logging.WARNING, "web.csrf_refused", path=request.path)
        abort(403, description="The form expired or did not come from this site. Reload the page.")


def _headers(response):
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint != "static":
        # Health data must not linger in shared or back-button caches.
        headers["Cache-Control"] = "no-store"
    if g.get("set_cookie") and g.session is not None:
        response.set_cookie(
            COOKIE,
            g.session.token,
            httponly=True,
            secure=request.is_secure,
            samesite="Lax",
            path="/",
        )
    elif g.get("clear_cookie"):
        response.delete_cookie(COOKIE, path="/", secure=request.is_secure, httponly=True)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_load_session)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token


def check_role(*roles: str):
    """None for a signed-in user of one of ``roles`` (any, when none are named).

    Otherwise a redirect to the sign-in page, or 401 for an API; a signed-in user of
    another role gets 403.
    """
    if g.user is None:
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(url_for("auth.login", next=request.path))
    if roles and g.user.role not in roles:
        abort(403)
    return None


def login_required(*roles: str):
    """Only signed-in users, and only the given roles when any are named."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            return check_role(*roles) or view(*args, **kwargs)

        return inner

    return wrap
