"""The care circle page: who is told about the patient's alerts, and how each message went."""

import logging

from flask import current_app, g, redirect, render_template, request, url_for

from services.common import carecircle as cc
from services.common import logs, reminders

from .. import access, accounts, carers, circle
from ..db import get_db
from ..errors import AccessDenied, NotFound, RateLimited, ValidationError
from . import DOCTOR, PATIENT, PatientPages, rate_limit

log = logging.getLogger(__name__)
bp = PatientPages("carecircle", __name__)
OWN_CONTACT = ("doctor", "carer")  # a sharing doctor or carer, about their own contact


def _page(error: str | None = None) -> str:
    conn, patient = get_db(), g.patient
    people = circle.circle(conn, patient.username)
    mine = [p for p in people if p["user_id"] == g.user.id]
    return render_template(
        "care_circle.html",
        patient=patient,
        people=people,
        mine=mine,
        is_patient=g.user.id == patient.id,
        deliveries=circle.delivery_rows(conn, patient.username, 30),
        carers=access.viewers(conn, patient.id, "carer"),
        invites=carers.pending_invites(conn, patient.id),
        levels=cc.LEVELS,
        tiers=circle.TIERS,
        reminder_choices=reminders.CHOICES,
        mail=current_app.extensions["smartcab.mailer"].enabled,
        error=error,
    )


bp.show_errors(_page, ValidationError, NotFound, AccessDenied, RateLimited)


def _back(**flash):
    return redirect(url_for(".care_circle", username=g.patient.username, **flash))


def _audit(action: str) -> None:
    access.record(get_db(), g.user, g.patient, action, request.path, request.remote_addr)


def _own(contact_id: int) -> cc.Contact:
    found = cc.contact(get_db(), contact_id)
    if found is None or found.patient != g.patient.username:
        raise NotFound("That contact is not in this care circle.")
    return found


@bp.route("/p/<username>/care-circle")
def care_circle():
    return _page()


@bp.route("/p/<username>/care-circle", methods=["POST"], roles=PATIENT)
def contact_add():
    form = request.form
    fields = circle.contact_fields(form)
    circle.add(
        get_db(), g.patient.username, form.get("name", ""), form.get("channel", ""), **fields
    )
    _audit(f"contact.add {' '.join(form.get('name', '').split())}")
    logs.event(log, logging.INFO, "web.contact_added", patient=g.patient.username)
    return _back(added=1)


@bp.route("/p/<username>/care-circle/<int:contact_id>/edit", methods=["POST"], roles=PATIENT)
def contact_edit(contact_id: int):
    circle.update(get_db(), g.patient.username, contact_id, request.form)
    _audit(f"contact.edit {_own(contact_id).name}")
    return _back(saved=1)


@bp.route("/p/<username>/care-circle/<int:contact_id>/remove", methods=["POST"], roles=PATIENT)
def contact_remove(contact_id: int):
    found = _own(contact_id)
    cc.remove_contact(get_db(), contact_id, g.patient.username)
    _audit(f"contact.remove {found.name}")
    return _back(removed=1)


@bp.route("/p/<username>/care-circle/<int:contact_id>/test", methods=["POST"], roles=PATIENT)
def contact_test(contact_id: int):
    found = _own(contact_id)
    rate_limit("outbound")
    cc.queue_test(get_db(), contact_id)
    logs.event(log, logging.INFO, "web.contact_test", patient=g.patient.username, contact=found.id)
    return _back(tested=found.name)


@bp.route("/p/<username>/care-circle/me", methods=["POST"], roles=DOCTOR)
def contact_add_self():
    """A sharing doctor joins the circle (tier 2 unless they choose), as their own contact."""
    conn, doctor = get_db(), g.user
    fields = circle.contact_fields(request.form)
    channel = request.form.get("channel", "").strip() or (doctor.email or "")
    contact_id = circle.add(
        conn, g.patient.username, accounts.doctor_name(doctor.display_name), channel, **fields
    )
    conn.execute("UPDATE care_contacts SET user_id = ? WHERE id = ?", (doctor.id, contact_id))
    return _back(added=1)


@bp.route("/p/<username>/care-circle/<int:contact_id>/leave", methods=["POST"], roles=OWN_CONTACT)
def contact_remove_self(contact_id: int):
    """A doctor or carer takes their own contact out of the circle."""
    _own(contact_id)
    if circle.contact_owner(get_db(), contact_id) != g.user.id:
        raise AccessDenied("Only the patient can remove someone else from the circle.")
    cc.remove_contact(get_db(), contact_id, g.patient.username)
    return _back(removed=1)


@bp.route("/p/<username>/care-circle/<int:contact_id>/invite", methods=["POST"], roles=PATIENT)
def carer_invite(contact_id: int):
    """Email a contact a single-use link to an account of their own (role carer)."""
    found, patient = _own(contact_id), g.patient
    mailer = current_app.extensions["smartcab.mailer"]
    if not mailer.enabled:
        raise ValidationError("This deployment cannot send email, so invitations are off.")
    rate_limit("outbound")
    email = request.form.get("email", "").strip() or found.channel
    token = carers.invite(get_db(), patient, email, found.name, contact_id)
    link = f"{current_app.config['BASE_URL']}{url_for('carer.accept', token=token)}"
    days = carers.INVITE_SECONDS // 86400
    mailer.send_invite(email.lower(), found.name, patient.display_name, link, days)
    _audit(f"carer.invite {found.name}")
    return _back(invited=found.name)


@bp.route("/p/<username>/care-circle/carers/revoke", methods=["POST"], roles=PATIENT)
def carer_revoke():
    carer_id = request.form.get("carer", type=int) or 0
    if carer_id not in {c["id"] for c in access.viewers(get_db(), g.patient.id, "carer")}:
        raise ValidationError("That carer does not have access.")
    access.revoke(get_db(), g.patient, carer_id, request.path, request.remote_addr)
    return _back(revoked=1)
