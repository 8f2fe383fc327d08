"""The alert page that notifications link to: the alert, who was told, and Acknowledge."""

import logging

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from services.common import carecircle as cc
from services.common import logs

from .. import access, accounts, circle
from ..db import get_db
from ..security import login_required

log = logging.getLogger(__name__)
bp = Blueprint("alerts", __name__)


def _alert_for_user(alert_id: str, audit: bool) -> tuple[dict, accounts.User | None]:
    """The alert and its patient when the signed-in user may see it; 404 or 403 otherwise.

    The patient, a doctor or carer they share with, and (for service alerts) the
    admins may; a refusal is audited on the patient's log.
    """
    conn, user = get_db(), g.user
    found = circle.alert(conn, alert_id)
    if found is None:
        abort(404)
    if found["patient"] is None:
        if user.role != "admin":
            abort(404)  # service alerts are the admins' only
        return found, None
    patient = accounts.find_patient(conn, found["patient"])
    if patient is None:
        abort(404)
    allowed = user.id == patient.id or (
        user.role in access.VIEWER_ROLES and access.has_share(conn, patient.id, user.id)
    )
    if not allowed:
        access.record(conn, user, patient, "alert_refused", request.path, request.remote_addr)
        logs.event(log, logging.WARNING, "web.access_refused", user=user.login, path=request.path)
        abort(403)
    if audit and user.id != patient.id:
        access.record(conn, user, patient, "alert", request.path, request.remote_addr)
    return found, patient


@bp.route("/alerts/<alert_id>")
@login_required()
def alert(alert_id: str):
    found, patient = _alert_for_user(alert_id, audit=True)
    return render_template("alert.html", alert=found, alert_patient=patient)


@bp.route("/alerts/<alert_id>/ack", methods=["POST"])
@login_required()
def acknowledge(alert_id: str):
    """One click: escalation and repeats stop, and the alert says who answered and when."""
    conn = get_db()
    _, patient = _alert_for_user(alert_id, audit=False)
    done = cc.ack(conn, alert_id, g.user.login)
    if done and patient is not None:  # every acknowledgement is in the patient's log
        access.record(
            conn, g.user, patient, f"alert_ack {alert_id}", request.path, request.remote_addr
        )
    logs.event(log, logging.INFO, "web.alert_acked", alert=alert_id, by=g.user.login, new=done)
    return redirect(url_for(".alert", alert_id=alert_id, acked=1 if done else 0))
