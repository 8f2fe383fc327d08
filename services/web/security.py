"""Per-request security: the session cookie, CSRF, response headers and role checks."""

import base64
import functools
import hashlib
import hmac
import logging
import secrets
import time

from flask import Flask, abort, current_app, g, redirect, request, url_for

from services.common import logs

from . import accounts, preferences, sessions
from .db import get_db

log = logging.getLogger(__name__)

COOKIE = "hp_session"
CSRF_COOKIE = "hp_csrf"
DEVICE_COOKIE = "hp_device"
DEVICE_DAYS = 90
DEVICE_ACCOUNTS = 5
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def cookie_name(base: str) -> str:
    """Over HTTPS the ``__Host-`` prefix pins a cookie to this host, path / and Secure."""
    return f"__Host-{base}" if current_app.config["SETTINGS"].https else base


def _keys():
    return current_app.extensions["smartcab.keys"]


def _anonymous_csrf() -> str:
    """A visitor without a session: a random cookie and its keyed hash, no database row."""
    nonce = g.get("csrf_nonce") or request.cookies.get(cookie_name(CSRF_COOKIE), "")
    if not nonce or len(nonce) > 64:
        nonce = secrets.token_urlsafe(24)
    g.csrf_nonce = nonce
    return hmac.new(_keys().derive("csrf"), nonce.encode(), hashlib.sha256).hexdigest()


def _expected_csrf() -> str:
    return g.session.csrf if g.session is not None else _anonymous_csrf()


def mask(token: str) -> str:
    """The token XOR a fresh pad, so no two pages carry the same bytes (BREACH)."""
    raw = token.encode()
    pad = secrets.token_bytes(len(raw))
    xored = bytes(a ^ b for a, b in zip(pad, raw, strict=True))
    return base64.urlsafe_b64encode(pad + xored).decode()


def unmask(sent: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sent.encode())
    except (ValueError, UnicodeError):
        return ""
    half = len(raw) // 2
    try:
        return bytes(a ^ b for a, b in zip(raw[:half], raw[half:], strict=False)).decode()
    except UnicodeDecodeError:
        return ""


def csrf_token() -> str:
    return mask(_expected_csrf())


def flash(message: str) -> None:
    """A message for the next page, kept with the session (never in the URL)."""
    if g.session is not None:
        sessions.push_flash(get_db(), g.session.token, message)


def flashes() -> list[str]:
    if g.get("session") is None:
        return []
    return sessions.take_flashes(get_db(), g.session.token)


def known_accounts() -> list[str]:
    """Account names this browser signed in to before (a signed, dated cookie)."""
    token = request.cookies.get(cookie_name(DEVICE_COOKIE), "")
    value = _keys().unsign("device", token, DEVICE_DAYS * 86400) if token else None
    return [str(a) for a in value] if isinstance(value, list) else []


def remember_device(account_key: str) -> None:
    names = [account_key] + [a for a in known_accounts() if a != account_key]
    g.device_cookie = _keys().signer("device").dumps(names[:DEVICE_ACCOUNTS])


def start_user_session(user: accounts.User) -> None:
    """Sign in: drop the old session and issue a fresh id (no session fixation)."""
    conn = get_db()
    if g.session is not None:
        sessions.destroy(conn, g.session.token)
    g.session = sessions.create(conn, user.id, current_app.config["SESSION_HOURS"])
    g.user = user
    g.set_cookie = True
    preferences.signed_in(conn, user.id)


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
    g.user = g.session = None  # until the database says otherwise (it may be away)
    if request.endpoint in ("static", "status.check"):
        return  # no session row for files and the balancer's checks
    conn = get_db()
    _sweep(conn)
    idle = current_app.config["SESSION_IDLE_SECONDS"]
    g.session = sessions.load(conn, request.cookies.get(cookie_name(COOKIE)), idle)
    if g.session is not None and g.session.user_id is not None:
        g.user = accounts.get(conn, g.session.user_id)
        # Times and values on every page follow the person's own settings.
        g.prefs = preferences.of(conn, g.user.id)
        g.tz = g.prefs.timezone


def _sweep(conn) -> None:
    """Remove ended sessions every SESSION_SWEEP_SECONDS (indexed on expiry)."""
    now = time.monotonic()
    state = current_app.extensions.setdefault("smartcab.sweep", {"at": None})
    every = current_app.config["SESSION_SWEEP_SECONDS"]
    if state["at"] is None or now - state["at"] >= every:
        state["at"] = now
        sessions.sweep(conn, current_app.config["SESSION_IDLE_SECONDS"])


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS:
        return
    sent = unmask(request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or "")
    expected = _expected_csrf()
    if g.session is None and not request.cookies.get(cookie_name(CSRF_COOKIE)):
        expected = ""  # the anonymous token is only good with the cookie it was made for
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
    _cookies(response)
    return response


def _cookies(response) -> None:
    secure = request.is_secure or current_app.config["SETTINGS"].https
    options = {"httponly": True, "secure": secure, "samesite": "Lax", "path": "/"}
    if g.get("set_cookie") and g.session is not None:
        response.set_cookie(cookie_name(COOKIE), g.session.token, **options)
    elif g.get("clear_cookie"):
        response.delete_cookie(cookie_name(COOKIE), path="/", secure=secure, httponly=True)
    nonce = g.get("csrf_nonce")
    if (
        nonce
        and g.get("session") is None
        and request.cookies.get(cookie_name(CSRF_COOKIE)) != nonce
    ):
        response.set_cookie(cookie_name(CSRF_COOKIE), nonce, **options)
    if g.get("device_cookie"):
        age = DEVICE_DAYS * 86400
        response.set_cookie(cookie_name(DEVICE_COOKIE), g.device_cookie, max_age=age, **options)


def init_app(app: Flask) -> None:
    app.before_request(_load_session)
    app.before_request(_check_csrf)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["flashes"] = flashes


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
