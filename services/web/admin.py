"""Administration: users and device assignments (no health data is shown here)."""

import logging

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from services.common import logs

from . import access, accounts, devices, sharing
from .db_access import db
from .errors import MqttPublishFailed, NotFound, ValidationError
from .security import login_required

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@login_required("admin")
def index():
    return _page(None)


def _page(error: str | None):
    """The admin page; errors are rendered here, never carried in a URL someone could craft."""
    conn = db()
    page = render_template(
        "admin.html",
        users=accounts.all_users(conn),
        log=sharing.admin_log(conn),
        devices=devices.assignments(conn),
        error=error,
    )
    return (page, 400) if error else page


@bp.route("/devices", methods=["POST"])
@login_required("admin")
def assign_device():
    conn = db()
    try:
        device = devices.check_id(request.form.get("device", ""))
        username = request.form.get("patient", "").strip().lower()
        patient = accounts.find_patient(conn, username) if username else None
        if username and patient is None:
            raise ValidationError("No such patient.")
        devices.assign(conn, device, patient.id if patient else None)
        sharing.admin_action(
            conn, g.user, "device.assign", f"{device} -> {username or 'nobody'}", patient
        )
        hub = current_app.extensions.get("smartcab.hub")
        if hub is not None:
            try:
                hub.assign(device, username or None)
            except Exception as exc:  # recorded; the hub republishes on its next connect
                raise MqttPublishFailed(str(exc)) from exc
        logs.event(
            log,
            logging.INFO,
            "web.device_assigned",
            device=device,
            patient=username or "-",
            by=g.user.login,
        )
    except (ValidationError, MqttPublishFailed) as exc:
        return _page(str(exc))
    return redirect(url_for(".index"))


@bp.route("/shares", methods=["POST"])
@login_required("admin")
def share():
    """An admin can record a share on a patient's behalf."""
    conn = db()
    try:
        patient = accounts.find_patient(conn, request.form.get("patient", "").strip().lower())
        doctor = accounts.find(conn, request.form.get("dr_id", ""))
        if patient is None or doctor.role != "doctor":
            raise ValidationError("Choose a patient and a doctor.")
        if request.form.get("action") == "revoke":
            access.unshare(conn, patient.id, doctor.id)
            action = "share.revoke"
        else:
            access.share(conn, patient.id, doctor.id)
            action = "share.grant"
        sharing.admin_action(conn, g.user, action, f"{patient.username} / {doctor.dr_id}", patient)
    except (ValidationError, NotFound):
        return _page("Choose a patient and a doctor.")
    return redirect(url_for(".index"))
