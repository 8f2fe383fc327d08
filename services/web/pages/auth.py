"""Sign-in (Users and Doctors tabs), sign-out, forgot and reset password, TOTP set-up."""

import logging
from urllib.parse import urlsplit

import segno
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from services.common import logs

from .. import accounts, throttle
from ..db import get_db
from ..errors import Throttled, ValidationError
from ..security import end_session, login_required, start_user_session

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

FAILED = "Sign-in failed. Check what you typed and try again."


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths, so the sign-in form cannot bounce people elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: accounts.User) -> str:
    if user.role == "doctor":
        return url_for("doctor.home")
    if user.role == "admin":
        return url_for("admin.index")
    if user.role == "carer":
        return url_for("carer.home")
    return url_for("welcome.welcome", username=user.username)


@bp.route("/")
def index():
    if g.user is None:
        return redirect(url_for("auth.login"))
    return redirect(home_for(g.user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    tab = request.values.get("tab", "users")
    if tab not in ("users", "doctors"):
        tab = "users"
    if request.method == "GET":
        if g.user is not None:
            return redirect(home_for(g.user))
        return render_template("login.html", tab=tab, error=None, form={})
    form = request.form
    conn = get_db()
    policy = current_app.config["THROTTLE"]
    account = form.get("dr_id", "") if tab == "doctors" else form.get("username", "")
    account_key, address_key = throttle.keys(account, request.remote_addr)
    status = 200
    try:
        booking = throttle.book(conn, policy, account_key, address_key)
        password = form.get("password", "")
        code = form.get("totp", "")
        if tab == "doctors":
            row = accounts.doctor_row(conn, account, form.get("name", ""), form.get("ic", ""))
            user = accounts.authenticate(conn, row, password, code)
        else:
            row = accounts.patient_row(conn, form.get("email", ""), account)
            user = accounts.authenticate(conn, row, password, code)
        if user is not None and user.role not in ("patient", "carer") and not user.has_totp:
            # Doctors and admins always need a code, even if a row lost its secret.
            user = None
        if user is None:
            logs.event(log, logging.WARNING, "web.signin_failed", tab=tab, ip=request.remote_addr)
            error, status = FAILED, 401
        else:
            throttle.succeeded(conn, booking)
            start_user_session(user)
            logs.event(log, logging.INFO, "web.signed_in", user=user.login, role=user.role)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    except Throttled as exc:
        error, status = str(exc), 429
    shown = {k: form.get(k, "") for k in ("email", "username", "dr_id", "name", "ic")}
    return render_template("login.html", tab=tab, error=error, form=shown), status


@bp.route("/logout", methods=["POST"])
def logout():
    end_session()
    return redirect(url_for("auth.login"))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot():
    mailer = current_app.extensions["smartcab.mailer"]
    sent = False
    if request.method == "POST" and mailer.enabled:
        conn = get_db()
        email = request.form.get("email", "")
        account_key, address_key = throttle.keys(f"reset:{email}", request.remote_addr)
        try:
            # Every request counts, so the form cannot be used to flood someone's inbox.
            throttle.book(conn, current_app.config["THROTTLE"], account_key, address_key)
            found = accounts.start_reset(conn, email)
            if found is not None:
                user, token = found
                link = f"{current_app.config['BASE_URL']}{url_for('auth.reset', token=token)}"
                mailer.send_reset(user.email, user.display_name, link)
        except Throttled:
            pass  # the same answer either way, so nothing is learnt from it
        sent = True
    return render_template("forgot.html", mail=mailer.enabled, sent=sent)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    conn = get_db()
    user = accounts.reset_user(conn, token)
    if user is None:
        return render_template("reset.html", valid=False, error=None), 404
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ."
        else:
            try:
                accounts.finish_reset(conn, token, password)
                logs.event(log, logging.INFO, "web.password_reset", user=user.login)
                return render_template("reset.html", valid=True, done=True, error=None)
            except ValidationError as exc:
                error = str(exc)
    return render_template("reset.html", valid=True, done=False, error=error)


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required("patient")
def totp_setup():
    """Patients may turn two-step sign-in on; doctors and admins always have it."""
    conn = get_db()
    if g.user.has_totp:
        return render_template("totp.html", enabled=True)
    action = request.form.get("action") if request.method == "POST" else None
    if action == "confirm":
        secret = request.form.get("secret", "")
        account_key, address_key = throttle.keys(f"totp:{g.user.login}", request.remote_addr)
        policy = current_app.config["THROTTLE"]
        try:
            booking = throttle.book(conn, policy, account_key, address_key)
        except Throttled as exc:
            return render_template("totp.html", enabled=False, error=str(exc)), 429
        if accounts.enable_totp(conn, g.user, secret, request.form.get("totp", "")):
            throttle.succeeded(conn, booking)
            logs.event(log, logging.INFO, "web.totp_enabled", user=g.user.login)
            return render_template("totp.html", enabled=True, just_enabled=True)
        return _totp_start(secret, "That code did not match. Try the newest code."), 400
    if action == "start":
        return _totp_start(accounts.new_totp_secret(), None)
    if action is not None:
        abort(400)
    return render_template("totp.html", enabled=False, secret=None)


def _totp_start(secret: str, error: str | None) -> str:
    uri = accounts.otpauth_uri(g.user, secret)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4, dark="#12343b")
    return render_template("totp.html", enabled=False, secret=secret, qr=qr, uri=uri, error=error)
