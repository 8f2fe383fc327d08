"""The account page: name, password, time zone, units, and two-step sign-in for every role.

Everything here changes the signed-in person's own account only. A change that could
lock its owner out (a new password, a new authenticator, turning two-step off) asks for
the password again; each one is confirmed on the page.
"""

import logging
import re
from zoneinfo import available_timezones

import segno
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from services.common import logs

from .. import accounts, preferences, sessions, throttle, twostep
from ..db import get_db
from ..errors import Throttled, ValidationError
from ..security import flash, login_required, start_user_session

log = logging.getLogger(__name__)
bp = Blueprint("account", __name__, url_prefix="/account")
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,80}$")
# Roles whose second step is their own choice; doctors and admins always have one.
OPTIONAL_TOTP = ("patient", "carer")


def _page(error: str | None = None, field: str | None = None):
    page = render_template(
        "account.html",
        error=error,
        field=field,
        prefs=g.prefs,
        zones=sorted(available_timezones()),
        temperature_units=preferences.TEMPERATURE_UNITS,
        lab_units=preferences.LAB_UNITS,
        signs_in_with_name=g.user.role == "doctor",
    )
    return (page, 400) if error else page


@bp.route("/")
@login_required()
def account():
    return _page()


@bp.route("/name", methods=["POST"])
@login_required()
def change_name():
    user, conn = g.user, get_db()
    name = " ".join(request.form.get("name", "").split())
    if not NAME_RE.match(name):
        return _page("Your name is 1 to 80 characters.", "name")
    if user.role == "doctor" and not accounts.check_password(
        conn, user, request.form.get("password", "")
    ):
        # A doctor signs in with this name: changing it is changing a sign-in detail.
        return _page("That password is not right.", "name_password")
    conn.execute("UPDATE users SET display_name = ? WHERE id = ?", (name, user.id))
    logs.event(log, logging.INFO, "web.name_changed", user=user.login)
    flash(f"Your name is now {name}.")
    return redirect(url_for(".account"))


@bp.route("/password", methods=["POST"])
@login_required()
def change_password():
    user, conn, form = g.user, get_db(), request.form
    try:
        booking = _booked(f"password:{user.login}")
    except Throttled as exc:
        page, _ = _page(str(exc), "current")
        return page, 429
    if not accounts.check_password(conn, user, form.get("current", "")):
        return _page("Your current password is not right.", "current")
    throttle.succeeded(conn, booking)
    if form.get("new", "") != form.get("confirm", ""):
        return _page("The two new passwords differ.", "confirm")
    try:
        accounts.set_password(conn, user, form.get("new", ""))  # ends every session
    except ValidationError as exc:
        return _page(str(exc), "new")
    start_user_session(user)  # this browser stays signed in; every other one is signed out
    logs.event(log, logging.INFO, "web.password_changed", user=user.login)
    flash("Your password is changed. Every other device where you were signed in is signed out.")
    return redirect(url_for(".account"))


@bp.route("/settings", methods=["POST"])
@login_required()
def change_settings():
    user, conn, form = g.user, get_db(), request.form
    try:
        zone = preferences.set_timezone(conn, user, form.get("timezone", ""))
        preferences.set_units(
            conn, user.id, form.get("temperature", "C"), form.get("lab_units", "si")
        )
    except ValidationError as exc:
        return _page(str(exc), "settings")
    flash(f"Saved. Times are shown in {zone or 'UTC'}.")
    return redirect(url_for(".account"))


def _booked(what: str):
    """Count a try against the sign-in throttle, so a stolen session cannot guess forever."""
    account_key, address_key = throttle.keys(what, request.remote_addr)
    return throttle.book(get_db(), current_app.config["THROTTLE"], account_key, address_key)


# --- two-step sign-in --------------------------------------------------------------------


@bp.route("/totp", methods=["GET", "POST"])
@login_required()
def totp_setup():
    """Turn two-step sign-in on, move it to a new phone, renew recovery codes, or turn it off."""
    action = request.form.get("action") if request.method == "POST" else None
    if action is None:
        return _totp_page()
    if action not in ("start", "move", "confirm", "disable", "codes"):
        abort(400)
    conn = get_db()
    if action in ("start", "move"):
        if (action == "start") == g.user.has_totp:
            return _totp_page()
        secret = twostep.new_secret()
        sessions.set_pending_totp(conn, g.session.token, _keys().encrypt(secret))
        return _totp_start(secret, None)
    try:
        booking = _booked(f"totp:{g.user.login}")
    except Throttled as exc:
        return _totp_page(error=str(exc)), 429
    done = {"confirm": _totp_confirm, "disable": _totp_disable, "codes": _new_codes}[action](conn)
    if isinstance(done, tuple):
        return done
    throttle.succeeded(conn, booking)
    return done


def _keys():
    return current_app.extensions["smartcab.keys"]


def _pending_secret(conn) -> str | None:
    stored = sessions.pending_totp(conn, g.session.token)
    try:
        return _keys().decrypt(stored) if stored else None
    except ValueError:
        return None


def _totp_confirm(conn):
    """Store the session's pending secret once the password and a code from it check out.

    With two-step sign-in on already, the new secret replaces the old one (a new phone).
    """
    secret = _pending_secret(conn)
    if secret is None:
        return _totp_page(error="Start the set-up again."), 400
    if not accounts.check_password(conn, g.user, request.form.get("password", "")):
        return _totp_start(secret, "That password is not right."), 400
    step = twostep.matching_step(secret, request.form.get("totp", ""))
    if step is None:
        return _totp_start(secret, "That code did not match. Try the newest code."), 400
    moved = g.user.has_totp
    twostep.store_secret(conn, g.user.id, secret, _keys(), step=step)
    sessions.set_pending_totp(conn, g.session.token, None)
    codes = twostep.new_recovery_codes(conn, g.user.id)
    logs.event(
        log, logging.INFO, "web.totp_moved" if moved else "web.totp_enabled", user=g.user.login
    )
    return render_template(
        "totp.html", enabled=True, just_enabled=not moved, just_moved=moved, codes=codes
    )


def _totp_disable(conn):
    """Turn two-step sign-in off (patients and carers only), after the password again."""
    if not g.user.has_totp or g.user.role not in OPTIONAL_TOTP:
        return _totp_page()
    if not accounts.check_password(conn, g.user, request.form.get("password", "")):
        return _totp_page(error="That password is not right."), 400
    twostep.clear(conn, g.user.id)
    logs.event(log, logging.INFO, "web.totp_disabled", user=g.user.login)
    return render_template("totp.html", enabled=False, secret=None, just_disabled=True)


def _new_codes(conn):
    """Ten new recovery codes for the old ones (lost, or used up), after the password."""
    if not g.user.has_totp:
        return _totp_page()
    if not accounts.check_password(conn, g.user, request.form.get("password", "")):
        return _totp_page(error="That password is not right."), 400
    codes = twostep.new_recovery_codes(conn, g.user.id)
    logs.event(log, logging.INFO, "web.recovery_codes_renewed", user=g.user.login)
    return render_template("totp.html", enabled=True, codes=codes, renewed=True)


def _totp_page(error: str | None = None) -> str:
    left = twostep.recovery_left(get_db(), g.user.id) if g.user.has_totp else 0
    return render_template(
        "totp.html", enabled=g.user.has_totp, secret=None, error=error, recovery_left=left
    )


def _totp_start(secret: str, error: str | None) -> str:
    uri = accounts.otpauth_uri(g.user, secret)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, dark="#12343b")
    return render_template(
        "totp.html",
        enabled=False,
        moving=g.user.has_totp,
        secret=secret,
        qr=qr,
        uri=uri,
        error=error,
    )
