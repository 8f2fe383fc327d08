"""The habit tracker: today's log, goals and streaks, and the week beside snacks and vitals."""

from datetime import UTC, date, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from . import access, habits
from .db_access import db
from .errors import DataUnavailable, ValidationError
from .history import snacks_per_day
from .security import login_required

bp = Blueprint("habits", __name__)


def _today() -> date:
    return datetime.now(UTC).date()


def _end() -> date:
    """The last day of the week shown: ``?end=YYYY-MM-DD`` or today."""
    text = request.args.get("end")
    if not text:
        return _today()
    try:
        end = min(date.fromisoformat(text), _today())
    except ValueError:
        abort(400, description="end is a date, YYYY-MM-DD")
    if end < date(1, 1, 8):  # the week shown starts six days earlier
        abort(400, description="end is too early a date")
    return end


def _week(patient, end: date) -> tuple[list[dict], str | None]:
    """The week's rows; snacks and vitals come from InfluxDB and may be unavailable."""
    start = datetime(end.year, end.month, end.day, tzinfo=UTC) - timedelta(days=6)
    stop = start + timedelta(days=7)
    health = current_app.extensions["smartcab.data"]
    try:
        snacks = snacks_per_day(health.inventory_changes(patient.username, start, stop))
        vitals = health.daily_vitals(patient.username, start, stop)
        error = None
    except DataUnavailable as exc:
        snacks, vitals, error = None, None, str(exc)
    return habits.week(db(), patient.id, end, snacks, vitals), error


def _page(patient, error: str | None = None, status: int = 200):
    end = _end()
    rows, history_error = _week(patient, end)
    goal = habits.goals(db(), patient.id)
    page = render_template(
        "habits.html",
        patient=patient,
        habits=habits.HABITS,
        rows=rows,
        goals=goal,
        streaks=habits.streaks(db(), patient.id, _today(), goal),
        today=_today().isoformat(),
        end=end,
        prev=(end - timedelta(days=7)).isoformat(),
        next=(end + timedelta(days=7)).isoformat() if end < _today() else None,
        history_error=history_error,
        error=error,
        can_edit=g.user.id == patient.id,
    )
    return page, status


@bp.route("/p/<username>/habits")
@login_required("patient", "doctor")
@access.patient_view("habits")
def page(patient):
    return _page(patient)


@bp.route("/p/<username>/habits", methods=["POST"])
@login_required("patient")
@access.patient_view("habit_log")
def log(patient):
    if g.user.id != patient.id:
        abort(403)
    try:
        day, count = habits.log(db(), patient.id, request.form, _today())
    except ValidationError as exc:
        if _wants_json():
            return jsonify(error=str(exc)), 400
        return _page(patient, str(exc), 400)
    if _wants_json():
        return jsonify(ok=True, day=day.isoformat(), saved=count)
    return redirect(url_for(".page", username=patient.username, saved=day.isoformat()))


@bp.route("/p/<username>/habits/goals", methods=["POST"])
@login_required("patient")
@access.patient_view("habit_goals")
def set_goals(patient):
    if g.user.id != patient.id:
        abort(403)
    try:
        habits.set_goals(db(), patient.id, request.form)
    except ValidationError as exc:
        return _page(patient, str(exc), 400)
    return redirect(url_for(".page", username=patient.username))


@bp.route("/api/p/<username>/habits")
@login_required("patient", "doctor")
@access.patient_view("api_habits")
def api_week(patient):
    end = _end()
    rows, error = _week(patient, end)
    goal = habits.goals(db(), patient.id)
    return jsonify(
        end=end.isoformat(),
        days=rows,
        goals=goal,
        streaks=habits.streaks(db(), patient.id, _today(), goal),
        history_error=error,
    )


def _wants_json() -> bool:
    return request.headers.get("Accept") == "application/json"
