"""The habit tracker: today's log, goals and streaks, and the week beside snacks and vitals."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import g, jsonify, redirect, render_template, request, url_for

from .. import formats
from .. import habits as tracker
from ..db import get_db
from ..errors import DataUnavailable, ValidationError
from ..handlers import wants_json
from ..history import snacks_per_day
from ..security import flash
from . import PATIENT, PatientPages, health, patient_zone

bp = PatientPages("habits", __name__)


def _zone() -> ZoneInfo:
    """The patient's time zone: their days begin at their own midnight (read once a request)."""
    if "habit_zone" not in g:
        g.habit_zone = ZoneInfo(patient_zone(g.patient.id))
    return g.habit_zone


def _today() -> date:
    return datetime.now(_zone()).date()


def _end() -> date:
    """The last day of the week shown: ``?end=YYYY-MM-DD`` or today."""
    text = request.args.get("end")
    if not text:
        return _today()
    try:
        end = min(date.fromisoformat(text), _today())
    except ValueError as exc:
        raise ValidationError("end is a date, YYYY-MM-DD") from exc
    if end < date(1, 1, 8):  # the week shown starts six days earlier
        raise ValidationError("end is too early a date")
    return end


def _week(end: date) -> tuple[list[dict], str | None]:
    """The week's rows; snacks and vitals come from InfluxDB and may be unavailable."""
    username, zone = g.patient.username, _zone()
    # Wall-clock arithmetic on aware times: both ends are the patient's midnights.
    start = datetime(end.year, end.month, end.day, tzinfo=zone) - timedelta(days=6)
    stop = start + timedelta(days=7)
    try:
        snacks = snacks_per_day(health().inventory_changes(username, start, stop), zone)
        vitals = health().daily_vitals(username, start, stop, zone.key)
        first = health().first_inventory(username)
        error = None
    except DataUnavailable as exc:
        snacks, vitals, first, error = None, None, None, str(exc)  # the logged habits still show
    # Before the cabinet's first count there is nothing to count: "–", not 0.
    since = datetime.fromtimestamp(first / 1000, zone).date().isoformat() if first else None
    return tracker.week(get_db(), g.patient.id, end, snacks, vitals, since), error


def _page(error: str | None = None) -> str:
    end = _end()
    rows, history_error = _week(end)
    goals = tracker.goals(get_db(), g.patient.id)
    return render_template(
        "habits.html",
        patient=g.patient,
        habits=tracker.HABITS,
        rows=rows,
        goals=goals,
        streaks=tracker.streaks(get_db(), g.patient.id, _today(), goals),
        today=_today().isoformat(),
        end=end,
        prev=(end - timedelta(days=7)).isoformat(),
        next=(end + timedelta(days=7)).isoformat() if end < _today() else None,
        history_error=history_error,
        zone=_zone().key,
        error=error,
        can_edit=g.user.id == g.patient.id,
    )


bp.show_errors(_page, ValidationError)


@bp.route("/p/<username>/habits")
def habits():
    return _page()


@bp.route("/p/<username>/habits", methods=["POST"], roles=PATIENT)
def habit_log():
    day, count = tracker.log(get_db(), g.patient.id, request.form, _today())
    if wants_json():
        return jsonify(ok=True, day=day.isoformat(), saved=count)
    flash(f"Saved your habits for {formats.date_text(day)}.")
    return redirect(url_for(".habits", username=g.patient.username))


@bp.route("/p/<username>/habits/goals", methods=["POST"], roles=PATIENT)
def habit_goals():
    tracker.set_goals(get_db(), g.patient.id, request.form)
    return redirect(url_for(".habits", username=g.patient.username))


@bp.route("/api/p/<username>/habits")
def api_habits():
    end = _end()
    rows, error = _week(end)
    goals = tracker.goals(get_db(), g.patient.id)
    return jsonify(
        end=end.isoformat(),
        days=rows,
        goals=goals,
        streaks=tracker.streaks(get_db(), g.patient.id, _today(), goals),
        history_error=error,
    )
