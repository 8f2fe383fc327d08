"""The cabinet page: live item counts, the lights, the camera and its recent snapshots."""

import logging
from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, send_file

from services.common import logs
from services.common.errors import MqttError

from . import access, devices
from .db_access import db
from .errors import DataUnavailable
from .history import last_changed
from .security import login_required

log = logging.getLogger(__name__)
bp = Blueprint("cabinet", __name__)

# How far back the page looks for when each item last changed.
CHANGES_DAYS = 30


def _hub():
    return current_app.extensions.get("smartcab.hub")


def _gallery():
    return current_app.extensions["smartcab.gallery"]


def _owned(patient, wanted: str | None = None) -> list[str]:
    found = devices.for_patient(db(), patient.id)
    return [d for d in found if wanted is None or devices.kind(d) == wanted]


def overview(patient) -> dict:
    """Cabinets (counts, when each changed, online state) and cameras (recent frames)."""
    hub = _hub()
    cabinets, cameras = _owned(patient, "cabinet"), _owned(patient, "camera")
    states = hub.device_states(cabinets + cameras) if hub else {}
    changed, history_error = {}, None
    if cabinets:
        end = datetime.now(UTC)
        try:
            changes = current_app.extensions["smartcab.data"].inventory_changes(
                patient.username, end - timedelta(days=CHANGES_DAYS), end
            )
            changed = last_changed(changes)
        except DataUnavailable as exc:
            history_error = str(exc)
    out_cabinets = []
    for device in cabinets:
        report = hub.inventory(device) if hub else None
        items = [
            {"name": name, "count": count, "changed": changed.get((device, name))}
            for name, count in sorted((report or {}).get("items", {}).items())
        ]
        out_cabinets.append(
            {
                "device": device,
                "state": states.get(device, "unknown"),
                "items": items,
                "ts": (report or {}).get("ts"),
            }
        )
    out_cameras = [
        {
            "device": d,
            "state": states.get(d, "unknown"),
            "frames": _gallery().frames(patient.username, d),
        }
        for d in cameras
    ]
    return {"cabinets": out_cabinets, "cameras": out_cameras, "history_error": history_error}


@bp.route("/p/<username>/cabinet")
@login_required("patient", "doctor")
@access.patient_view("cabinet")
def page(patient):
    return render_template(
        "cabinet.html",
        patient=patient,
        view=overview(patient),
        live=_hub() is not None,
        can_control=g.user.id == patient.id,
    )


@bp.route("/api/p/<username>/cabinet")
@login_required("patient", "doctor")
@access.patient_view("api_cabinet")
def api_cabinet(patient):
    return jsonify(overview(patient))


@bp.route("/api/p/<username>/devices/<device>/cmd", methods=["POST"])
@login_required("patient")
@access.patient_view("device_command")
def command(patient, device: str):
    """Send lon/lof/inv to a cabinet or img to a camera; answer with the gateway's result."""
    if g.user.id != patient.id or device not in _owned(patient):
        abort(403)
    body = request.get_json(silent=True) or request.form
    cmd = str(body.get("cmd", ""))
    if cmd not in devices.COMMANDS.get(devices.kind(device), ()):
        abort(400, description="this device does not take that command")
    hub = _hub()
    if hub is None:
        abort(503, description="live service is off; commands cannot be sent")
    try:
        result = hub.command(device, cmd, current_app.config["SETTINGS"].command_timeout)
    except MqttError as exc:
        logs.event(log, logging.ERROR, "web.command_not_sent", device=device, error=exc)
        abort(503, description="the command could not be sent; try again shortly")
    logs.event(
        log,
        logging.INFO,
        "web.command",
        device=device,
        cmd=cmd,
        answered=result is not None,
        ok=bool(result and result["ok"]),
    )
    if result is None:
        return jsonify(device=device, cmd=cmd, answered=False, ok=False, error="no answer"), 504
    return jsonify(answered=True, **result), (200 if result["ok"] else 502)


@bp.route("/p/<username>/camera/<device>/<name>")
@login_required("patient", "doctor")
@access.patient_view("snapshot")
def snapshot(patient, device: str, name: str):
    if device not in _owned(patient, "camera"):
        abort(404)
    path = _gallery().path(patient.username, device, name)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)
