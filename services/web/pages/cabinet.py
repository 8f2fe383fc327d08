"""The cabinet page: live item counts, the lights, the camera and its recent snapshots."""

import logging
from datetime import UTC, datetime, timedelta

from flask import abort, current_app, g, jsonify, render_template, request, send_file

from services.common import logs

from .. import devices
from ..db import get_db
from ..errors import DataUnavailable, ValidationError
from ..history import last_changed
from . import PATIENT, PatientPages, health, hub, rate_limit

log = logging.getLogger(__name__)
bp = PatientPages("cabinet", __name__)

# How far back the page looks for when each item last changed.
CHANGES_DAYS = 30


def _gallery():
    return current_app.extensions["smartcab.gallery"]


def _owned(wanted: str | None = None) -> list[str]:
    found = devices.for_patient(get_db(), g.patient.id)
    return [d for d in found if wanted is None or devices.kind(d) == wanted]


def _changed(cabinets: list[str]) -> tuple[dict, str | None]:
    """When each item last changed, and why that is unknown when the history is away."""
    if not cabinets:
        return {}, None
    end = datetime.now(UTC)
    try:
        start = end - timedelta(days=CHANGES_DAYS)
        return last_changed(health().inventory_changes(g.patient.username, start, end)), None
    except DataUnavailable as exc:
        return {}, str(exc)  # the counts are live; only "changed" is missing


def overview() -> dict:
    """Cabinets (counts, when each changed, online state) and cameras (recent frames)."""
    live, username = hub(), g.patient.username
    cabinets, cameras = _owned("cabinet"), _owned("camera")
    states = live.device_states(cabinets + cameras) if live else {}
    changed, history_error = _changed(cabinets)
    out_cabinets = []
    for device in cabinets:
        report = (live.inventory(device) if live else None) or {}
        items = [
            {"name": name, "count": count, "changed": changed.get((device, name))}
            for name, count in sorted(report.get("items", {}).items())
        ]
        state = states.get(device, "unknown")
        out_cabinets.append(
            {"device": device, "state": state, "items": items, "ts": report.get("ts")}
        )
    out_cameras = [
        {
            "device": d,
            "state": states.get(d, "unknown"),
            "frames": _gallery().frames(username, d),
        }
        for d in cameras
    ]
    return {"cabinets": out_cabinets, "cameras": out_cameras, "history_error": history_error}


@bp.route("/p/<username>/cabinet")
def cabinet():
    return render_template(
        "cabinet.html",
        patient=g.patient,
        view=overview(),
        live=hub() is not None,
        can_control=g.user.id == g.patient.id,
        changes_days=CHANGES_DAYS,
    )


@bp.route("/api/p/<username>/cabinet")
def api_cabinet():
    return jsonify(overview())


@bp.route("/api/p/<username>/devices/<device>/cmd", methods=["POST"], roles=PATIENT)
def device_command(device: str):
    """Send lon/lof/inv to a cabinet or img to a camera; answer with the gateway's result."""
    if device not in _owned():
        abort(403)
    body = request.get_json(silent=True) or request.form
    cmd = str(body.get("cmd", ""))
    if cmd not in devices.COMMANDS.get(devices.kind(device), ()):
        raise ValidationError("this device does not take that command")
    rate_limit("command")
    live = hub()
    if live is None:
        abort(503, description="live service is off; commands cannot be sent")
    result = live.command(device, cmd, current_app.config["SETTINGS"].command_timeout)
    answered, ok = result is not None, bool(result and result["ok"])
    logs.event(log, logging.INFO, "web.command", device=device, cmd=cmd, answered=answered, ok=ok)
    if result is None:
        return jsonify(device=device, cmd=cmd, answered=False, ok=False, error="no answer"), 504
    return jsonify(answered=True, **result), (200 if ok else 502)


@bp.route("/p/<username>/camera/<device>/<name>")
def snapshot(device: str, name: str):
    if device not in _owned("camera"):
        abort(404)
    path = _gallery().path(g.patient.username, device, name)
    if path is None:
        abort(404)
    return send_file(path, mimetype="image/jpeg", max_age=0)
