"""Administration: users and device assignments (no health data is shown here)."""

import logging

from flask import Blueprint, g, redirect, render_template, request, url_for

from services.common import logs
from services.common.errors import MqttError

from .. import access, accounts, devices, handlers
from ..db import get_db
from ..errors import NotFound, ValidationError
from ..security import check_role
from . import hub

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")
CHOOSE = "Choose a patient and a doctor."


@bp.before_request
def _admins_only():
    return check_role("admin")


def _page(error: str | None = None):
    """The admin page; errors are rendered here, never carried in a URL someone could craft."""
    conn = get_db()
    page = render_template(
        "admin.html",
        users=accounts.all_users(conn),
        log=access.admin_log(conn),
        devices=devices.assignments(conn),
        error=error,
    )
    return (page, 400) if error else page


@bp.errorhandler(ValidationError)
@bp.errorhandler(MqttError)
def _refused(exc: Exception):
    # the admin page shows what failed above its forms, rather than an error page
    handlers.note(exc)
    return _page(handlers.message_of(exc))


@bp.route("/")
def index():
    return _page()


@bp.route("/devices", methods=["POST"])
def assign_device():
    conn = get_db()
    device = devices.check_id(request.form.get("device", ""))
    username = request.form.get("patient", "").strip().lower()
    patient = accounts.find_patient(conn, username) if username else None
    if username and patient is None:
        raise ValidationError("No such patient.")
    devices.assign(conn, device, patient.id if patient else None)
    detail = f"{device} -> {username or 'nobody'}"
    access.admin_action(
        conn, g.user, "device.assign", detail, patient, request.path, request.remote_addr
    )
    live = hub()
    if live is not None:
        # A broker away is the app's MqttError page; the assignment is already stored and
        # the hub republishes it on its next connect.
        live.assign(device, username or None)
    logs.event(
        log,
        logging.INFO,
        "web.device_assigned",
        device=device,
        patient=username or "-",
        by=g.user.login,
    )
    return redirect(url_for(".index"))


def _doctor(conn, dr_id: str) -> accounts.User:
    try:
        doctor = accounts.find(conn, dr_id)
    except NotFound as exc:
        raise ValidationError(CHOOSE) from exc
    if doctor.role != "doctor":
        raise ValidationError(CHOOSE)
    return doctor


@bp.route("/shares", methods=["POST"])
def share():
    """An admin can record a share as patients do themselves on their sharing page."""
    conn = get_db()
    patient = accounts.find_patient(conn, request.form.get("patient", "").strip().lower())
    if patient is None:
        raise ValidationError(CHOOSE)
    doctor = _doctor(conn, request.form.get("dr_id", ""))
    if request.form.get("action") == "revoke":
        access.unshare(conn, patient.id, doctor.id)
        action = "share.revoke"
    else:
        access.share(conn, patient.id, doctor.id)
        action = "share.grant"
    detail = f"{patient.username} / {doctor.dr_id}"
    access.admin_action(conn, g.user, action, detail, patient, request.path, request.remote_addr)
    return redirect(url_for(".index"))
