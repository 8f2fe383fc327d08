"""Carers: taking an emailed invitation, and the carer's home (the people they care for)."""

import logging

from flask import Blueprint, abort, g, redirect, render_template, request, url_for

from services.common import logs

from .. import access, accounts, carers, circle
from ..db import get_db
from ..errors import ValidationError
from ..security import login_required, start_user_session

log = logging.getLogger(__name__)
bp = Blueprint("carer", __name__)


@bp.route("/carer")
@login_required("carer")
def home():
    conn, carer = get_db(), g.user
    people = []
    for patient in access.shared_patients(conn, carer.id):
        people.append({"patient": patient, "alerts": circle.alerts(conn, patient.username, 5)})
        # Their alerts are on the page, so the patient's access log shows it.
        access.record(conn, carer, patient, "carer_home", request.path, request.remote_addr)
    return render_template("carer.html", people=people)


@bp.route("/carer/invite/<token>", methods=["GET", "POST"])
def accept(token: str):
    """The invitation's link: make a carer account (or add the share to one's own)."""
    conn = get_db()
    invite = carers.pending_invite(conn, token)
    if invite is None:
        abort(404, description="This invitation has expired or was already used.")
    error = None
    if request.method == "POST":
        try:
            carer = _take(conn, token)
            patient = accounts.find_patient(conn, invite["patient"])
            access.grant_carer(conn, patient, carer, request.path, request.remote_addr)
            logs.event(log, logging.INFO, "web.carer_joined", patient=invite["patient"])
            return redirect(url_for("carer.home", joined=invite["patient_name"]))
        except ValidationError as exc:
            error = str(exc)
    return render_template("carer_invite.html", invite=invite, error=error), 400 if error else 200


def _take(conn, token: str) -> accounts.User:
    if g.user is not None:
        carers.accept_as(conn, token, g.user)
        return g.user
    form = request.form
    if form.get("password", "") != form.get("password2", ""):
        raise ValidationError("The two passwords differ.")
    carer, _ = carers.create_carer(conn, token, form.get("username", ""), form.get("password", ""))
    start_user_session(carer)
    return carer
