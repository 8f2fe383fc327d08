"""The Health Report page: the chart, the health record doctors write, and report downloads."""

import logging
from datetime import UTC, datetime

from flask import abort, g, jsonify, redirect, render_template, request, send_file, url_for

from services.common import logs

from .. import access, data, questionnaire, ranges, records, reports
from ..db import get_db
from ..errors import FieldError
from . import DOCTOR, FORM_ERRORS, PatientPages, health, hub, rate_limit, reports_dir

log = logging.getLogger(__name__)
bp = PatientPages("report", __name__)


def _page(record_error: str | None = None, blood: dict | None = None) -> str:
    """The chart, then the health record (blood tests, advice, notes) and report downloads.

    ``blood`` is a refused blood-test entry: what was typed, and the field at fault.
    """
    patient, conn = g.patient, get_db()
    return render_template(
        "report.html",
        patient=patient,
        metrics=data.CHART_METRICS,
        record_error=record_error,
        blood=blood,
        panel=records.blood_panel(conn, patient.id, _lab_units()),
        lab_units=_lab_units(),
        advice=records.advice(conn, patient.id),
        notes=records.notes(conn, patient.id),
        tests=records.TESTS,
        areas=records.AREAS,
        reports=reports.listing(reports_dir(), patient.username),
        formats=reports.FORMATS,
        periods=reports.PERIODS,
        is_doctor=g.user.role == "doctor",
        today=datetime.now(UTC).date().isoformat(),
        shared_with=access.doctors(conn, patient.id) if g.user.id == patient.id else [],
    )


bp.show_errors(_page, *FORM_ERRORS)


def _lab_units() -> str:
    """How this person reads blood tests (their account page): SI or conventional units."""
    prefs = g.get("prefs")
    return prefs.lab_units if prefs else "si"


def _back(anchor: str, **args):
    return redirect(url_for(".report", username=g.patient.username, **args) + anchor)


@bp.route("/p/<username>/report")
def report():
    return _page()


@bp.route("/p/<username>/blood-tests", methods=["POST"], roles=DOCTOR)
def blood_tests_add():
    try:
        taken_at, results = records.parse_results(request.form, _lab_units())
    except FieldError as exc:
        access.refused(get_db(), g.user, g.patient, "blood_tests_add")
        # Nothing typed is lost: the form opens again with every value and the error at its field.
        typed = {k: v for k, v in request.form.items() if k != "csrf_token"}
        return _page(blood={"typed": typed, "field": exc.field, "error": str(exc)}), 400
    records.add_results(get_db(), g.patient.id, g.user.id, taken_at, results)
    logs.event(log, logging.INFO, "web.blood_tests", patient=g.patient.username, by=g.user.login)
    return _back("#blood-tests", saved="blood")


@bp.route("/p/<username>/advice", methods=["POST"], roles=DOCTOR)
def advice_add():
    form = request.form
    records.add_advice(get_db(), g.patient.id, g.user.id, form.get("area", ""), form.get("advice"))
    return _back("#advice", saved="advice")


@bp.route("/p/<username>/notes", methods=["POST"], roles=DOCTOR)
def note_add():
    records.add_note(get_db(), g.patient.id, g.user.id, request.form.get("note"))
    return _back("#notes", saved="note")


@bp.route("/api/p/<username>/series")
def api_series():
    start, end = ranges.parse(request.args, datetime.now(UTC))
    wanted = [m for m in request.args.get("metrics", "").split(",") if m]
    metrics = [m for m in data.METRICS if not wanted or m in wanted]
    return jsonify(health().series(g.patient.username, metrics, start, end))


@bp.route("/api/p/<username>/record")
def api_record():
    patient, conn = g.patient, get_db()
    answers = questionnaire.state(conn, patient.id, drafts=g.user.id == patient.id)
    return jsonify(
        blood_tests=records.blood_panel(conn, patient.id),
        advice=records.advice(conn, patient.id),
        notes=records.notes(conn, patient.id),
        questionnaire=answers["items"],
    )


@bp.route("/api/p/<username>/reports", methods=["POST"])
def report_request():
    """Ask the reporter for a PDF or an export; the page follows its progress."""
    body = request.get_json(silent=True) or request.form
    days = str(body.get("days", 7))
    fmt = str(body.get("format", "pdf"))
    # Anything but a whole number is as unknown a period as 8 days: new_request says so.
    job = reports.new_request(g.user, g.patient.username, fmt, int(days) if days.isdigit() else 0)
    rate_limit("report")
    live = hub()
    if live is None:
        abort(503, description="live service is off; reports cannot be requested")
    reports.remember(get_db(), job, g.patient.id, g.user.id)
    live.request_report(job)
    logs.event(log, logging.INFO, "web.report_requested", id=job["id"], by=g.user.login)
    return jsonify(id=job["id"], stage="sent"), 202


@bp.route("/api/p/<username>/reports/<report_id>")
def report_status(report_id: str):
    patient, live = g.patient, hub()
    state = None
    # Another patient's request is as unknown as a made-up id. The request may have gone
    # out through another web instance: the database knows it, this hub its progress.
    if reports.requested_for(get_db(), report_id, patient.id):
        state = (live.report_state(report_id) if live else None) or {"stage": "sent"}
        state = {**state, "id": report_id}
    stored = reports.stored_result(reports_dir(), patient.username, report_id)
    if stored is not None:
        state = {**stored, "stage": "done"}
    if state is None:
        abort(404)
    out = {k: state.get(k) for k in ("id", "stage", "ok", "error", "reason", "format", "size")}
    if state.get("stage") == "done" and state.get("ok"):
        out["url"] = url_for(".report_download", username=patient.username, report_id=report_id)
    return jsonify(out)


@bp.route("/p/<username>/reports/<report_id>")
def report_download(report_id: str):
    found = reports.file_of(reports_dir(), g.patient.username, report_id)
    if found is None:
        abort(404)
    path, result = found
    return send_file(
        path,
        mimetype=result.get("media_type") or "application/octet-stream",
        as_attachment=True,
        download_name=f"health-plus-{g.patient.username}-{path.name.split('-', 1)[-1]}",
        max_age=0,
    )
