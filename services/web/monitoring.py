"""Patient pages and APIs: welcome, cards, health report chart, data sheet, CSV, live events."""

import csv
import io
import json
import logging
import queue
import time
from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from services.common import logs
from services.common.errors import MqttError

from . import access, data, devices, sessions
from . import db as schema
from .db_access import db
from .errors import DataUnavailable, RangeTooLarge, ValidationError
from .live import TooManyListeners
from .security import login_required

log = logging.getLogger(__name__)
bp = Blueprint("monitoring", __name__)

RANGES = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}
PAGE_SIZE = 25


def _health():
    return current_app.extensions["smartcab.data"]


def _hub():
    return current_app.extensions.get("smartcab.hub")


@bp.route("/p/<username>")
@login_required("patient", "doctor")
@access.patient_view("welcome")
def welcome(patient):
    owned = devices.for_patient(db(), patient.id)
    hub = _hub()
    states = hub.device_states(owned) if hub else dict.fromkeys(owned, "unknown")
    try:
        glance = data.cards(_health().latest(patient.username))
    except DataUnavailable:
        glance = []
    return render_template("welcome.html", patient=patient, devices=states, glance=glance)


@bp.route("/p/<username>/monitoring")
@login_required("patient", "doctor")
@access.patient_view("monitoring")
def cards(patient):
    return _cards_page(patient, None)


def _cards_page(patient, entry_error: str | None) -> str:
    try:
        latest, error = _health().latest(patient.username), None
    except DataUnavailable as exc:
        latest, error = {}, str(exc)
    return render_template(
        "monitoring.html",
        patient=patient,
        cards=data.cards(latest),
        error=error,
        entry_error=entry_error,
        can_enter=g.user.id == patient.id,
    )


@bp.route("/p/<username>/readings", methods=["POST"])
@login_required("patient")
@access.patient_view("manual_reading")
def manual_reading(patient):
    """A home cuff or oximeter reading typed in by the patient; it joins the pipeline."""
    if g.user.id != patient.id:
        abort(403)
    hub = _hub()
    try:
        readings = data.parse_manual(request.form)
        if hub is None:
            raise DataUnavailable("Live service is off; the reading could not be sent.")
        ts_ms = int(time.time() * 1000)
        try:
            for metric, value in readings:
                hub.publish_manual(patient.username, metric, value, ts_ms)
        except MqttError as exc:
            logs.event(log, logging.ERROR, "web.manual_not_sent", error=exc)
            raise DataUnavailable("The reading could not be sent; try again shortly.") from exc
        logs.event(log, logging.INFO, "web.manual_reading", patient=patient.username)
    except (ValidationError, DataUnavailable) as exc:
        status = 503 if isinstance(exc, DataUnavailable) else 400
        if request.headers.get("Accept") == "application/json":
            return jsonify(error=str(exc)), status
        return _cards_page(patient, str(exc)), status
    if request.headers.get("Accept") == "application/json":
        return jsonify(ok=True, readings=[m for m, _ in readings]), 202
    return redirect(url_for(".cards", username=patient.username, saved=1))


@bp.route("/p/<username>/report")
@login_required("patient", "doctor")
@access.patient_view("report")
def report(patient):
    return report_page(patient)


def report_page(patient, record_error: str | None = None) -> str:
    """The chart, then the health record (blood tests, advice, notes) and report downloads."""
    from .record_views import record_context

    return render_template(
        "report.html",
        patient=patient,
        metrics=data.CHART_METRICS,
        record_error=record_error,
        **record_context(patient),
    )


@bp.route("/p/<username>/datasheet")
@login_required("patient", "doctor")
@access.patient_view("datasheet")
def datasheet(patient):
    before = request.args.get("before", type=int)
    try:
        rows, older = _health().sheet(patient.username, before, PAGE_SIZE)
        error = None
    except DataUnavailable as exc:
        rows, older, error = [], None, str(exc)
    return render_template(
        "datasheet.html",
        patient=patient,
        rows=rows,
        first=before is None,
        older=older,
        error=error,
    )


@bp.route("/p/<username>/datasheet.csv")
@login_required("patient", "doctor")
@access.patient_view("datasheet_csv")
def datasheet_csv(patient):
    start, end = _range()
    try:
        rows = _health().sheet_range(patient.username, start, end)
    except DataUnavailable as exc:
        abort(503, description=str(exc))
    except RangeTooLarge as exc:
        abort(400, description=str(exc))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "time_utc",
            "heart_rate_bpm",
            "temperature_c",
            "spo2_percent",
            "bp_systolic_mmhg",
            "bp_diastolic_mmhg",
            "flagged",
        ]
    )
    for row in rows:
        writer.writerow(data.csv_row(row))
    name = f"health-plus-{patient.username}-{end:%Y%m%d}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- JSON APIs -------------------------------------------------------------------


def _range() -> tuple[datetime, datetime]:
    """The chosen range: day, week, month, or custom ``start``/``end`` (ISO dates or times)."""
    now = datetime.now(UTC)
    choice = request.args.get("range", "day")
    if choice in RANGES:
        return now - RANGES[choice], now
    if choice != "custom":
        abort(400, description="range is day, week, month or custom")
    try:
        start = datetime.fromisoformat(request.args["start"])
        end = datetime.fromisoformat(request.args["end"])
    except (KeyError, ValueError):
        abort(400, description="custom ranges need start and end as ISO dates")
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    try:
        if len(request.args["end"]) == 10:  # a bare date means the whole of that day
            end += timedelta(days=1)
        for moment in (start, end):
            moment.astimezone(UTC)  # must exist in UTC too
    except OverflowError:
        abort(400, description="custom ranges must fall between the years 1 and 9999")
    if not start < end or end - start > timedelta(days=366):
        abort(400, description="start must be before end, at most a year apart")
    return start, end


def _api(fn):
    try:
        return jsonify(fn())
    except DataUnavailable as exc:
        return jsonify(error=str(exc)), 503


@bp.route("/api/p/<username>/latest")
@login_required("patient", "doctor")
@access.patient_view("api_latest")
def api_latest(patient):
    return _api(lambda: data.latest_json(_health().latest(patient.username)))


@bp.route("/api/p/<username>/recent")
@login_required("patient", "doctor")
@access.patient_view("api_recent")
def api_recent(patient):
    metric = request.args.get("metric", "")
    if metric not in data.METRICS:
        abort(400)
    return _api(lambda: _health().recent(patient.username, metric, 20))


@bp.route("/api/p/<username>/series")
@login_required("patient", "doctor")
@access.patient_view("api_series")
def api_series(patient):
    start, end = _range()
    wanted = [m for m in request.args.get("metrics", "").split(",") if m]
    metrics = [m for m in data.METRICS if not wanted or m in wanted]
    return _api(lambda: _health().series(patient.username, metrics, start, end))


@bp.route("/api/p/<username>/datasheet")
@login_required("patient", "doctor")
@access.patient_view("api_datasheet")
def api_datasheet(patient):
    before = request.args.get("before", type=int)

    def rows():
        found, older = _health().sheet(patient.username, before, PAGE_SIZE)
        return {"rows": found, "older": older}

    return _api(rows)


@bp.route("/api/p/<username>/alerts")
@login_required("patient", "doctor")
@access.patient_view("api_alerts")
def api_alerts(patient):
    return _api(lambda: _health().alerts(patient.username, 10))


@bp.route("/api/p/<username>/events")
@login_required("patient", "doctor")
@access.patient_view("live")
def events(patient):
    """Server-sent events: readings, device status and alerts for one patient."""
    hub = _hub()
    if hub is None:
        abort(503, description="live updates are off")
    try:
        listener = hub.listen(patient.username, g.session.token)
    except TooManyListeners:
        abort(503, description="too many live streams; retry shortly")
    token, viewer, database = g.session.token, g.user, current_app.config["DATABASE"]
    heartbeat = current_app.config["SSE_HEARTBEAT"]

    def still_allowed() -> bool:
        """The session is live and, for a doctor, the share still stands."""
        conn = schema.connect(database)
        try:
            if not sessions.is_live(conn, token):
                return False
            return viewer.role == "patient" or access.has_share(conn, patient.id, viewer.id)
        finally:
            conn.close()

    def stream():
        try:
            yield "retry: 2000\n\n"
            checked = time.monotonic()
            while True:
                try:
                    event, payload = listener.events.get(timeout=heartbeat)
                except queue.Empty:
                    event = None
                # A busy stream is checked as often as an idle one, so a revoked share
                # or an ended session stops it within one heartbeat either way.
                if time.monotonic() - checked >= heartbeat:
                    if not still_allowed():
                        return
                    checked = time.monotonic()
                if event is None:
                    yield ": keep-alive\n\n"
                    continue
                if event == "close" or listener.closed:
                    return
                yield f"event: {event}\ndata: {json.dumps(payload)}\n\n"
                if listener.overflowed:
                    yield "event: resync\ndata: {}\n\n"
                    return
        finally:
            hub.forget(listener)

    response = Response(
        stream(),
        mimetype="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
    # A generator closed before its first step never runs its finally block.
    response.call_on_close(lambda: hub.forget(listener))
    return response
