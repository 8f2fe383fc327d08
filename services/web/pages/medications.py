"""The medication list: the patient and their doctors edit it, see its changes and the week."""

from datetime import UTC, datetime, timedelta

from flask import g, jsonify, redirect, render_template, request, url_for

from services.common.medication import adherence, schedule, store

from .. import medications as med_list
from ..db import get_db
from ..errors import ValidationError
from . import PATIENT, PatientPages, default_zone, patient_zone

# The patient and their doctors edit the list; a carer reads it, as the record.
EDITORS = ("patient", "doctor")

bp = PatientPages("medications", __name__)
OUTCOME_WORDS = {
    "on_time": "taken on time",
    "early": "taken early",
    "late": "taken late",
    "missed": "missed",
    "open": "due now",
    "upcoming": "later",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _page(error: str | None = None) -> str:
    conn, patient = get_db(), g.patient
    tz = patient_zone(patient.id)
    meds = store.listed(conn, patient.id)
    today = _now().astimezone(schedule.zone(tz)).date()
    return render_template(
        "medications.html",
        patient=patient,
        meds=meds,
        tz=tz,
        own_tz=store.timezone_of(conn, patient.id, ""),
        default_tz=default_zone(),
        week=adherence.week(conn, meds, tz, today),
        words=OUTCOME_WORDS,
        changes=store.changes(conn, patient.id),
        due=med_list.due_now(conn, patient.id, tz, _now()),
        error=error,
        can_mark=g.user.id == patient.id,
        can_edit=g.user.role in EDITORS,
    )


bp.show_errors(_page, ValidationError)


def _back():
    return redirect(url_for(".medications", username=g.patient.username))


@bp.route("/p/<username>/medications")
def medications():
    return _page()


@bp.route("/p/<username>/medications", methods=["POST"], roles=EDITORS)
def medication_add():
    med_list.add(get_db(), g.patient.id, request.form, g.user.id, g.user.login)
    return _back()


@bp.route("/p/<username>/medications/<int:med_id>", methods=["POST"], roles=EDITORS)
def medication_edit(med_id: int):
    med_list.update(get_db(), g.patient.id, med_id, request.form, g.user.id, g.user.login)
    return _back()


@bp.route("/p/<username>/medications/<int:med_id>/remove", methods=["POST"], roles=EDITORS)
def medication_remove(med_id: int):
    med_list.remove(get_db(), g.patient.id, med_id, g.user.id, g.user.login)
    return _back()


@bp.route("/p/<username>/medications/timezone", methods=["POST"], roles=EDITORS)
def medication_timezone():
    name = request.form.get("timezone", "")
    med_list.set_timezone(get_db(), g.patient.id, name, g.user.id, g.user.login)
    return _back()


@bp.route("/p/<username>/medications/taken", methods=["POST"], roles=PATIENT)
def medication_taken():
    try:
        med_id, due = int(request.form["medication"]), int(request.form["due"])
    except (KeyError, ValueError) as exc:
        raise ValidationError("which dose was taken?") from exc
    conn = get_db()
    outcome = med_list.mark_taken(
        conn, g.patient.id, med_id, due, patient_zone(g.patient.id), _now()
    )
    if request.form.get("next") == "monitoring":
        return redirect(url_for("monitoring.monitoring", username=g.patient.username, dose=outcome))
    return _back()


@bp.route("/api/p/<username>/medications")
def api_medications():
    conn = get_db()
    tz = patient_zone(g.patient.id)
    meds = store.listed(conn, g.patient.id)
    end = _now()
    items = adherence.scheduled(conn, meds, tz, end - timedelta(days=7), end)
    return jsonify(
        timezone=tz,
        medications=[
            {
                "id": m.id,
                "name": m.name,
                "dose": m.dose,
                "times": m.times,
                "item": m.item,
                "window_min": m.window_min,
                "days": m.days,
                "stock": m.stock,
            }
            for m in meds
        ],
        doses=[
            {
                "medication": i.medication.id,
                "due_at": i.slot.key,
                "outcome": i.outcome,
                "doubled": i.doubled,
                "source": i.dose.source if i.dose else None,
            }
            for i in items
        ],
        summary=adherence.summary(items),
    )


@bp.app_template_global()
def doses_due(patient) -> list[dict]:
    """The doses the patient may mark taken now (their own home page only)."""
    if g.get("user") is None or g.user.id != patient.id:
        return []
    return med_list.due_now(get_db(), patient.id, patient_zone(patient.id), _now())
