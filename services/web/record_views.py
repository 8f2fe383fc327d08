"""Health record pages: doctors' blood tests, advice and notes, the questionnaire, reports."""

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from services.common import logs
from services.common.errors import MqttError

from . import access, questionnaire, records, reports
from .db_access import db
from .errors import ValidationError
from .security import login_required

log = logging.getLogger(__name__)
bp = Blueprint("record", __name__)


def _data_dir():
    return current_app.config["SETTINGS"].data_dir


def record_context(patient) -> dict:
    """What the Health Report page shows below the chart."""
    conn = db()
    return {
        "panel": records.blood_panel(conn, patient.id),
        "advice": records.advice(conn, patient.id),
        "notes": records.notes(conn, patient.id),
        "tests": records.TESTS,
        "areas": records.AREAS,
        "reports": reports.listing(_data_dir(), patient.username),
        "formats": reports.FORMATS,
        "periods": reports.PERIODS,
        "is_doctor": g.user.role == "doctor",
    }


def _back(patient, anchor: str, **args):
    return redirect(url_for("monitoring.report", username=patient.username, **args) + anchor)


def _refused(patient, error: str):
    from .monitoring import report_page

    return report_page(patient, error), 400


@bp.route("/p/<username>/blood-tests", methods=["POST"])
@login_required("doctor")
@access.patient_view("blood_tests_add")
def add_blood_tests(patient):
    try:
        taken_at, results = records.parse_results(request.form)
        records.add_results(db(), patient.id, g.user.id, taken_at, results)
    except ValidationError as exc:
        return _refused(patient, str(exc))
    logs.event(log, logging.INFO, "web.blood_tests", patient=patient.username, by=g.user.login)
    return _back(patient, "#blood-tests", saved="blood")


@bp.route("/p/<username>/advice", methods=["POST"])
@login_required("doctor")
@access.patient_view("advice_add")
def add_advice(patient):
    try:
        records.add_advice(
            db(), patient.id, g.user.id, request.form.get("area", ""), request.form.get("advice")
        )
    except ValidationError as exc:
        return _refused(patient, str(exc))
    return _back(patient, "#advice", saved="advice")


@bp.route("/p/<username>/notes", methods=["POST"])
@login_required("doctor")
@access.patient_view("note_add")
def add_note(patient):
    try:
        records.add_note(db(), patient.id, g.user.id, request.form.get("note"))
    except ValidationError as exc:
        return _refused(patient, str(exc))
    return _back(patient, "#notes", saved="note")


@bp.route("/api/p/<username>/record")
@login_required("patient", "doctor")
@access.patient_view("api_record")
def api_record(patient):
    conn = db()
    return jsonify(
        blood_tests=records.blood_panel(conn, patient.id),
        advice=records.advice(conn, patient.id),
        notes=records.notes(conn, patient.id),
        questionnaire=questionnaire.state(conn, patient.id, drafts=g.user.id == patient.id)[
            "items"
        ],
    )


# --- questionnaire ------------------------------------------------------------------


def _questionnaire(patient, error: str | None = None, status: int = 200):
    own = g.user.id == patient.id
    page = render_template(
        "questionnaire.html",
        patient=patient,
        state=questionnaire.state(db(), patient.id, drafts=own),
        error=error,
        can_edit=own,
    )
    return page, status


@bp.route("/p/<username>/questionnaire")
@login_required("patient", "doctor")
@access.patient_view("questionnaire")
def questionnaire_page(patient):
    return _questionnaire(patient)


@bp.route("/p/<username>/questionnaire", methods=["POST"])
@login_required("patient")
@access.patient_view("questionnaire_save")
def questionnaire_save(patient):
    if g.user.id != patient.id:
        abort(403)
    try:
        if request.form.get("action") == "submit":
            questionnaire.submit(db(), patient.id, request.form)
            done = "submitted"
        else:
            questionnaire.save_draft(db(), patient.id, request.form)
            done = "draft"
    except ValidationError as exc:
        return _questionnaire(patient, str(exc), 400)
    return redirect(url_for(".questionnaire_page", username=patient.username, saved=done))


# --- reports --------------------------------------------------------------------------


@bp.route("/api/p/<username>/reports", methods=["POST"])
@login_required("patient", "doctor")
@access.patient_view("report_request")
def request_report(patient):
    """Ask the reporter for a PDF or an export; the page follows its progress."""
    body = request.get_json(silent=True) or request.form
    try:
        days = int(body.get("days", 7))
        job = reports.new_request(g.user, patient.username, str(body.get("format", "pdf")), days)
    except (ValidationError, ValueError) as exc:
        abort(400, description=str(exc))
    hub = current_app.extensions.get("smartcab.hub")
    if hub is None:
        abort(503, description="live service is off; reports cannot be requested")
    try:
        hub.request_report(job)
    except MqttError as exc:
        logs.event(log, logging.ERROR, "web.report_not_requested", error=exc)
        abort(503, description="the report could not be requested; try again shortly")
    logs.event(log, logging.INFO, "web.report_requested", id=job["id"], by=g.user.login)
    return jsonify(id=job["id"], stage="sent"), 202


@bp.route("/api/p/<username>/reports/<report_id>")
@login_required("patient", "doctor")
@access.patient_view("report_status")
def report_status(patient, report_id: str):
    hub = current_app.extensions.get("smartcab.hub")
    state = hub.report_state(report_id) if hub else None
    if state is not None and state.get("patient") != patient.username:
        state = None  # another patient's request: as unknown as a made-up id
    stored = reports.stored_result(_data_dir(), patient.username, report_id)
    if stored is not None:
        state = {**stored, "stage": "done"}
    if state is None:
        abort(404)
    out = {k: state.get(k) for k in ("id", "stage", "ok", "error", "reason", "format", "size")}
    if state.get("stage") == "done" and state.get("ok"):
        out["url"] = url_for(".report_file", username=patient.username, report_id=report_id)
    return jsonify(out)


@bp.route("/p/<username>/reports/<report_id>")
@login_required("patient", "doctor")
@access.patient_view("report_download")
def report_file(patient, report_id: str):
    found = reports.file_of(_data_dir(), patient.username, report_id)
    if found is None:
        abort(404)
    path, result = found
    return send_file(
        path,
        mimetype=result.get("media_type") or "application/octet-stream",
        as_attachment=True,
        download_name=f"health-plus-{patient.username}-{path.name.split('-', 1)[-1]}",
        max_age=0,
    )
