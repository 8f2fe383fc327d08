"""Administration: users and device assignments (no health data is shown here)."""

import logging

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from services.common import logs
from services.common.errors import MqttError

from .. import access, accounts, devices, handlers
from .. import firmware as registry
from ..db import get_db
from ..errors import ValidationError
from ..security import check_role, flash
from . import firmware, hub

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")


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
        shares=access.all_shares(conn),
        rollout=firmware.overview(),
        error=error,
    )
    return (page, 400) if error else page


@bp.errorhandler(ValidationError)
@bp.errorhandler(MqttError)
def _refused(exc: Exception):
    # the admin page shows what failed above its forms, rather than an error page
    handlers.note(exc)
    return _page(handlers.message_of(exc))


@bp.url_value_preprocessor
def _bundle_size(endpoint, _values):
    # before the CSRF check reads the form: the app's 64 KB limit is too small for a bundle
    if endpoint == "admin.publish_firmware":
        request.max_content_length = firmware.firmware.MAX_BUNDLE + 64 * 1024


@bp.route("/firmware", methods=["POST"])
def publish_firmware():
    """Publish a firmware bundle for a board kind; its boards are offered it."""
    kind, version = request.form.get("kind", ""), request.form.get("version", "").strip()
    firmware.publish(kind, version, request.files.getlist("files"))
    detail = f"{kind} {version}"
    access.admin_action(
        get_db(), g.user, "firmware.publish", detail, None, request.path, request.remote_addr
    )
    flash(f"Firmware {detail} is published and offered to its boards.")
    return redirect(url_for(".index"))


@bp.route("/")
def index():
    return _page()


def _known(conn, device: str) -> bool | None:
    """Whether a device exists: listed already, in the registry, or met by the gateway.

    None when nothing can tell (no registry and no broker connection).
    """
    if devices.is_listed(conn, device):
        return True
    live = hub()
    try:
        listed = registry.registry_ids(current_app.config["SETTINGS"].devices)
    except ValidationError:
        listed = set()
    seen = live.availability.seen() if live is not None else set()
    if device in listed or device in seen:
        return True
    return None if live is None and not current_app.config["SETTINGS"].devices else False


@bp.route("/devices", methods=["POST"])
def assign_device():
    conn, form = get_db(), request.form
    device = devices.check_id(form.get("device", ""))
    if form.get("action") == "forget":
        return _forget(conn, device)
    username = form.get("patient", "").strip().lower()
    patient = accounts.find_patient(conn, username) if username else None
    if username and patient is None:
        raise ValidationError(f"No patient has the user name {username!r}.")
    known = _known(conn, device)
    if known is False:
        raise ValidationError(
            f"No device {device!r} is known: it is not in the device registry and has never"
            " connected to the gateway. Check the id on the device's label, or switch the"
            " device on once so the gateway meets it."
        )
    devices.assign(conn, device, patient.id if patient else None)
    detail = f"{device} -> {username or 'nobody'}"
    access.admin_action(
        conn, g.user, "device.assign", detail, patient, request.path, request.remote_addr
    )
    _publish(device, username or None)
    logs.event(
        log,
        logging.INFO,
        "web.device_assigned",
        device=device,
        patient=username or "-",
        by=g.user.login,
    )
    done = (
        f"{device} now belongs to {username}." if username else f"{device} belongs to nobody now."
    )
    if known is None:
        done += " Whether the device exists could not be checked (no registry, no broker)."
    flash(done)
    return redirect(url_for(".index"))


def _publish(device: str, username: str | None) -> None:
    live = hub()
    if live is not None:
        # A broker away is the app's MqttError page; the assignment is already stored and
        # the hub republishes it on its next connect.
        live.assign(device, username)


def _forget(conn, device: str):
    """Take a device off the list (a typo, a board gone for good); its history stays."""
    if not devices.forget(conn, device):
        raise ValidationError(f"{device!r} is not on the list.")
    access.admin_action(conn, g.user, "device.forget", device, None, request.path)
    _publish(device, None)
    flash(f"{device} is off the list.")
    return redirect(url_for(".index"))


def _doctor(conn, dr_id: str) -> accounts.User:
    dr_id = dr_id.strip()
    if not dr_id:
        raise ValidationError("Type the doctor's Dr_ID.")
    row = conn.execute(
        "SELECT * FROM users WHERE role = 'doctor' AND UPPER(dr_id) = ?", (dr_id.upper(),)
    ).fetchone()
    if row is None:
        raise ValidationError(f"No doctor has the Dr_ID {dr_id!r}.")
    return accounts.User.from_row(row)


@bp.route("/shares", methods=["POST"])
def share():
    """An admin can record a share as patients do themselves on their sharing page."""
    conn = get_db()
    username = request.form.get("patient", "").strip().lower()
    if not username:
        raise ValidationError("Type the patient's user name.")
    patient = accounts.find_patient(conn, username)
    if patient is None:
        raise ValidationError(f"No patient has the user name {username!r}.")
    doctor = _doctor(conn, request.form.get("dr_id", ""))
    who = f"{accounts.doctor_name(doctor.display_name)} ({doctor.dr_id})"
    if request.form.get("action") == "revoke":
        if not access.has_share(conn, patient.id, doctor.id):
            raise ValidationError(f"{who} has no access to {patient.username}'s data.")
        access.unshare(conn, patient.id, doctor.id)
        action, done = "share.revoke", f"{who} can no longer see {patient.username}'s data."
    elif access.share(conn, patient.id, doctor.id):
        action, done = "share.grant", f"{who} can now see {patient.username}'s data."
    else:
        flash(f"{who} could already see {patient.username}'s data; nothing changed.")
        return redirect(url_for(".index"))
    detail = f"{patient.username} / {doctor.dr_id}"
    access.admin_action(conn, g.user, action, detail, patient, request.path, request.remote_addr)
    flash(done)
    return redirect(url_for(".index"))
