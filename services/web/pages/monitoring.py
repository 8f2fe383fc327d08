"""The health monitoring page: a card per metric, typed-in readings, and the live stream."""

import json
import logging
import queue
import time

from flask import (
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
from services.common.alerts import alert_text

from .. import access, attention, data, devices, sessions, verdicts
from .. import db as database
from ..db import get_db
from ..errors import DataUnavailable, ValidationError
from ..handlers import wants_json
from ..security import flash
from . import FORM_ERRORS, PATIENT, PatientPages, health, hub, temperature_unit

log = logging.getLogger(__name__)
bp = PatientPages("monitoring", __name__)


def _page(entry_error: str | None = None) -> str:
    patient = g.patient
    try:
        latest, error = health().latest(patient.username), None
        pending = attention.pending(health(), get_db(), patient, temperature_unit())
    except DataUnavailable as exc:
        latest, pending, error = {}, [], str(exc)  # the cards show "no reading" and why
    sources = devices.several_watches(database.get_db(), patient.id)
    return render_template(
        "monitoring.html",
        patient=patient,
        cards=data.cards(latest, pending, temperature_unit(), sources),
        sources=sources,
        error=error,
        entry_error=entry_error,
        can_enter=g.user.id == patient.id,
    )


bp.show_errors(_page, *FORM_ERRORS)


@bp.route("/p/<username>/monitoring")
def monitoring():
    return _page()


@bp.route("/p/<username>/readings", methods=["POST"], roles=PATIENT)
def manual_reading():
    """A home cuff or oximeter reading typed in by the patient; it joins the pipeline."""
    patient = g.patient
    readings = data.parse_manual(request.form)
    live = hub()
    if live is None:
        raise DataUnavailable("Live service is off; the reading could not be sent.")
    ts_ms = int(time.time() * 1000)
    for metric, value in readings:
        live.publish_manual(patient.username, metric, value, ts_ms)
    logs.event(log, logging.INFO, "web.manual_reading", patient=patient.username)
    if wants_json():
        return jsonify(ok=True, readings=[m for m, _ in readings]), 202
    return redirect(url_for(".monitoring", username=patient.username, saved=1))


@bp.route("/p/<username>/acknowledge", methods=["POST"])
def reading_ack():
    """Someone saw a card's out-of-range readings (or an alert) up to a time: stop showing them."""
    patient, conn = g.patient, get_db()
    body = request.get_json(silent=True) or request.form
    through = attention.parse_through(body.get("through", ""))
    key = attention.acknowledge(conn, patient.id, str(body.get("key", "")), through, g.user.id)
    if g.user.id == patient.id:  # a viewer's request is audited already, as every one is
        access.record(
            conn, g.user, patient, f"reading_ack {key}", request.path, request.remote_addr
        )
    logs.event(log, logging.INFO, "web.reading_ack", patient=patient.username, key=key)
    if wants_json():
        return jsonify(ok=True, key=key, through=through)
    flash("Marked as seen. A new reading outside the usual range will show again.")
    return redirect(url_for(".monitoring", username=patient.username))


@bp.route("/api/p/<username>/attention")
def api_attention():
    return jsonify(attention.pending(health(), get_db(), g.patient, temperature_unit()))


@bp.route("/api/p/<username>/latest")
def api_latest():
    return jsonify(data.latest_json(health().latest(g.patient.username)))


@bp.route("/api/p/<username>/recent")
def api_recent():
    metric, username = request.args.get("metric", ""), g.patient.username
    if metric == "bp":  # blood pressure's history reads as pairs, 128/84
        pairs = data.pressure_pairs(
            health().recent(username, "bp_systolic", 20),
            health().recent(username, "bp_diastolic", 20),
        )
        return jsonify(pairs)
    if metric not in data.METRICS:
        raise ValidationError(f"metric is bp or one of {', '.join(data.METRICS)}")
    return jsonify(health().recent(username, metric, 20))


@bp.route("/api/p/<username>/alerts")
def api_alerts():
    found = health().alerts(g.patient.username, 10)
    seen = attention.acknowledged(get_db(), g.patient.id)
    for a in found:
        a["text"] = alert_text(a)
        a["card"] = verdicts.group_of(a.get("key") or "")
        a["acknowledged"] = a["ts_ms"] <= seen.get(a["card"], 0)
    return jsonify(found)


@bp.route("/api/p/<username>/events")
def live():
    """Server-sent events: readings, device status and alerts for one patient."""
    patient, the_hub = g.patient, hub()
    if the_hub is None:
        abort(503, description="live updates are off")
    listener = the_hub.listen(patient.username, g.session.token, g.user.id)  # TooManyListeners: 503
    token, viewer, path = g.session.token, g.user, current_app.config["DATABASE"]
    idle = current_app.config["SESSION_IDLE_SECONDS"]

    def still_allowed() -> bool:
        """The session is live and, for a doctor, the share still stands."""
        conn = database.connect(path)
        try:
            if not sessions.is_live(conn, token, idle):
                return False
            return viewer.role == "patient" or access.has_share(conn, patient.id, viewer.id)
        finally:
            conn.close()

    events = _stream(listener, still_allowed, current_app.config["SSE_HEARTBEAT"])

    def forget_after(stream):
        try:
            yield from stream
        finally:
            the_hub.forget(listener)

    response = Response(
        forget_after(events), mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )
    # A generator closed before its first step never runs its finally block.
    response.call_on_close(lambda: the_hub.forget(listener))
    return response


def _stream(listener, still_allowed, heartbeat: float):
    """The listener's events as SSE text, with keep-alives, until it closes or is refused."""
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
