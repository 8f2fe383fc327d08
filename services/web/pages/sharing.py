"""The sharing page: the patient grants and revokes doctors' access and reads who looked."""

import logging

from flask import g, redirect, render_template, request, url_for

from services.common import logs

from .. import access, accounts, circle, visits
from ..db import get_db
from ..errors import ValidationError
from ..security import flash
from . import PATIENT, PatientPages

log = logging.getLogger(__name__)
bp = PatientPages("sharing", __name__)


def _page(error: str | None = None) -> str:
    doctors = access.doctors(get_db(), g.patient.id)
    return render_template("sharing.html", patient=g.patient, doctors=doctors, error=error)


bp.show_errors(_page, ValidationError)


@bp.route("/p/<username>/sharing", roles=PATIENT)
def sharing():
    return _page()


@bp.route("/p/<username>/sharing", methods=["POST"], roles=PATIENT)
def share_grant():
    patient = g.patient
    dr_id = request.form.get("dr_id", "")
    doctor, new = access.grant(get_db(), patient, dr_id, request.path, request.remote_addr)
    who = f"{accounts.doctor_name(doctor.display_name)} ({doctor.dr_id})"
    if new:
        logs.event(
            log, logging.INFO, "web.share_granted", patient=patient.username, dr=doctor.dr_id
        )
        flash(f"{who} can now see your health data.")
    else:
        flash(f"{who} could already see your health data; nothing changed.")
    return redirect(url_for(".sharing", username=patient.username))


@bp.route("/p/<username>/sharing/revoke", methods=["POST"], roles=PATIENT)
def share_revoke():
    patient = g.patient
    doctor_id = request.form.get("doctor", type=int) or 0
    access.revoke(get_db(), patient, doctor_id, request.path, request.remote_addr)
    logs.event(log, logging.INFO, "web.share_revoked", patient=patient.username)
    flash("Access removed. That doctor can no longer open your data.")
    return redirect(url_for(".sharing", username=patient.username))


@bp.route("/p/<username>/access-log", roles=PATIENT)
def access_log():
    conn = get_db()
    # The notifier's messages have no web user behind them: merged in from its rows.
    entries = circle.merged_log(
        visits.log(conn, g.patient.id), circle.log_entries(conn, g.patient.username)
    )
    return render_template("access_log.html", patient=g.patient, entries=entries)
