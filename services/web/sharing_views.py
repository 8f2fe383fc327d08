"""Sharing with doctors: grant and revoke, who viewed my data, and the doctor's home."""

import logging
from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from services.common import logs

from . import access, data, records, reports, sharing
from .db_access import db
from .errors import DataUnavailable, ValidationError
from .security import login_required

log = logging.getLogger(__name__)
bp = Blueprint("sharing", __name__)


def _own(patient) -> None:
    if g.user.id != patient.id:
        abort(403)


def _page(patient, error: str | None = None, status: int = 200):
    conn = db()
    page = render_template(
        "sharing.html",
        patient=patient,
        doctors=sharing.doctors(conn, patient.id),
        error=error,
    )
    return page, status


@bp.route("/p/<username>/sharing")
@login_required("patient")
@access.patient_view("sharing")
def page(patient):
    _own(patient)
    return _page(patient)


@bp.route("/p/<username>/sharing", methods=["POST"])
@login_required("patient")
@access.patient_view("share_grant")
def grant(patient):
    _own(patient)
    try:
        doctor = sharing.grant(db(), patient, request.form.get("dr_id", ""))
    except ValidationError as exc:
        return _page(patient, str(exc), 400)
    logs.event(log, logging.INFO, "web.share_granted", patient=patient.username, dr=doctor.dr_id)
    return redirect(url_for(".page", username=patient.username, granted=doctor.dr_id))


@bp.route("/p/<username>/sharing/revoke", methods=["POST"])
@login_required("patient")
@access.patient_view("share_revoke")
def revoke(patient):
    _own(patient)
    try:
        sharing.revoke(db(), patient, request.form.get("doctor", type=int) or 0)
    except ValidationError as exc:
        return _page(patient, str(exc), 400)
    logs.event(log, logging.INFO, "web.share_revoked", patient=patient.username)
    return redirect(url_for(".page", username=patient.username, revoked=1))


@bp.route("/p/<username>/access-log")
@login_required("patient")
@access.patient_view("access_log")
def access_log(patient):
    _own(patient)
    return render_template(
        "access_log.html", patient=patient, entries=sharing.access_log(db(), patient.id)
    )


def _summary(patient, since: int | None) -> dict:
    """Latest vitals, alerts and what changed since this doctor's last visit."""
    health = current_app.extensions["smartcab.data"]
    out = {"patient": patient, "last_visit": since, "cards": [], "alerts": [], "error": None}
    try:
        out["cards"] = [c for c in data.cards(health.latest(patient.username)) if c.ts]
        alerts = health.alerts(patient.username, 20)
        out["alerts"] = open_alerts(alerts)
        out["new_alerts"] = sum(1 for a in alerts if since and a["ts_ms"] > since * 1000)
    except DataUnavailable as exc:
        out["error"] = str(exc)
    data_dir = current_app.config["SETTINGS"].data_dir
    found = reports.listing(data_dir, patient.username)
    out["reports"] = [r for r in found if str(r.get("id", "")).startswith("weekly-")][:2]
    changes = records.changes_since(db(), patient.id, since or 0) if since else {}
    out["changes"] = {k: v for k, v in changes.items() if v}
    return out


@bp.route("/doctor")
@login_required("doctor")
def doctor_home():
    conn = db()
    summaries = []
    for patient in access.shared_patients(conn, g.user.id):
        summaries.append(_summary(patient, sharing.last_visit(conn, g.user.id, patient.id)))
        access.record(conn, g.user, patient, "doctor_home")  # their readings are on the page
    return render_template(
        "doctor.html", summaries=summaries, now=int(datetime.now(UTC).timestamp())
    )


def open_alerts(alerts: list[dict]) -> list[dict]:
    """Newest-first alerts whose condition has not been cleared since it was raised."""
    seen, still = set(), []
    for a in alerts:
        key = (a.get("kind"), a.get("key"), a.get("device"))
        if key in seen:
            continue
        seen.add(key)
        if a.get("level") != "cleared":
            still.append(a)
    return still
