"""Sign-in (Users and Doctors tabs), sign-out, forgot and reset password (TOTP: ``account``)."""

import logging
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from services.common import logs

from .. import accounts, security_alerts, sessions, throttle
from ..db import get_db
from ..errors import Throttled, ValidationError
from ..security import (
    end_session,
    known_accounts,
    login_required,
    remember_device,
    start_user_session,
)

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

FAILED = "Sign-in failed. Check what you typed and try again."


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths, so the sign-in form cannot bounce people elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    # Browsers read "\" as "/" and drop tabs and newlines: "/\evil.example" and
    # "/\t/evil.example" would leave the site.
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


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
        known = account_key in known_accounts()
        booking = throttle.book(conn, policy, account_key, address_key, known=known)
        user = _check_sign_in(conn, tab, form)
        if user is None:
            logs.event(log, logging.WARNING, "web.signin_failed", tab=tab, ip=request.remote_addr)
            _maybe_alert(conn, tab, account, booking, policy)
            error, status = FAILED, 401
        else:
            throttle.succeeded(conn, booking)
            start_user_session(user)
            remember_device(account_key)
            logs.event(log, logging.INFO, "web.signed_in", user=user.login, role=user.role)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    except Throttled as exc:
        error, status = str(exc), 429
    shown = {k: form.get(k, "") for k in ("email", "username", "dr_id", "name", "ic")}
    return render_template("login.html", tab=tab, error=error, form=shown), status


def _check_sign_in(conn, tab: str, form) -> accounts.User | None:
    """The account if everything typed is right (a code or a recovery code as second step)."""
    keys = current_app.extensions["smartcab.keys"]
    password, code = form.get("password", ""), form.get("totp", "")
    if tab == "doctors":
        row = accounts.doctor_row(
            conn, form.get("dr_id", ""), form.get("name", ""), form.get("ic", "")
        )
    else:
        row = accounts.patient_row(conn, form.get("email", ""), form.get("username", ""))
    user = accounts.authenticate(conn, row, password, code, keys)
    if user is not None and user.role not in ("patient", "carer") and not user.has_totp:
        return None  # doctors and admins always need a code, even if a row lost its secret
    return user


def _maybe_alert(conn, tab: str, account: str, booking, policy) -> None:
    """Raise a security alert once an account's failures reach the policy's mark."""
    if booking.failures != policy.alert_after:
        return
    name = account.strip().lower() if tab == "users" else account.strip()
    patient = accounts.find_patient(conn, name) if tab == "users" else None
    security_alerts.failed_sign_ins(
        conn, name, booking.failures, patient.username if patient else None
    )
    security_alerts.publish_pending(conn, current_app.extensions.get("smartcab.hub"))


@bp.route("/logout", methods=["POST"])
def logout():
    end_session()
    return redirect(url_for("auth.login"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required()
def logout_everywhere():
    """End every session of the account, on every device (a lost or shared computer)."""
    user = g.user
    sessions.destroy_all(get_db(), user.id)
    end_session()
    logs.event(log, logging.INFO, "web.signed_out_everywhere", user=user.login)
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
