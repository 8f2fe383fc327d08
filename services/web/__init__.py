"""The Health Plus dashboard: a Flask app factory in the style of Flask's tutorial."""

import logging

from flask import Flask, g

from services.common import metrics
from services.common.database import Database

from . import accounts, auth_schema, db, formats, keys, preferences
from .ratelimit import RateLimits
from .settings import Settings
from .throttle import Policy

log = logging.getLogger(__name__)


def create_app(test_config: dict | None = None, settings: Settings | None = None) -> Flask:
    """Build the app; nothing connects until ``start_background`` is called."""
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config.from_mapping(
        SETTINGS=settings,
        DATABASE=settings.database,
        SESSION_HOURS=settings.session_hours,
        SESSION_IDLE_SECONDS=settings.session_idle_minutes * 60,
        # How often a request sweeps ended sessions out of the table.
        SESSION_SWEEP_SECONDS=300,
        BASE_URL=settings.base_url,
        THROTTLE=Policy(),
        MAX_CONTENT_LENGTH=64 * 1024,
        LIVE=settings.live,
        # How often an idle live stream re-checks its session and sends a keep-alive.
        SSE_HEARTBEAT=15.0,
    )
    if test_config:
        app.config.update(test_config)
    app.config["DATABASE"] = Database.of(app.config["DATABASE"])

    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    app.extensions["smartcab.keys"] = keys.load(settings.secret_key_path)
    app.extensions["smartcab.limits"] = RateLimits()
    _register(app)
    _encrypt_clear_secrets(app)
    from . import history, mailer
    from .gallery import Gallery

    app.extensions["smartcab.gallery"] = Gallery(settings.gallery_dir, settings.gallery_keep)
    app.extensions["smartcab.mailer"] = mailer.Mailer(settings.smtp)
    app.extensions["smartcab.data"] = app.config.get("HISTORY") or history.HealthData(
        settings.influx
    )
    _templating(app)
    return app


def _templating(app: Flask) -> None:
    """Jinja filters and globals: dates in one format, values in each person's units."""
    from . import data

    app.jinja_env.filters["when"] = lambda ts_ms: formats.when(ts_ms, _tz())
    app.jinja_env.filters["day"] = lambda ts_s: formats.day(ts_s, _tz())
    app.jinja_env.filters["date_text"] = formats.date_text
    app.jinja_env.filters["period"] = formats.period
    app.jinja_env.filters["when_iso"] = lambda text: formats.when_iso(text, _tz())
    app.jinja_env.filters["when_minute"] = lambda ts_s: formats.when(ts_s * 1000, _tz(), False)
    app.jinja_env.filters["clock"] = lambda ts_s: formats.clock(ts_s, _tz())
    app.jinja_env.filters["counted"] = _counted
    app.jinja_env.filters["doctor"] = accounts.doctor_name
    # Labels, units and ranges for the browser's script, in the person's own units.
    app.context_processor(
        lambda: {
            "metric_table": data.metric_table(_unit()),
            "temperature_unit": _unit(),
        }
    )
    app.jinja_env.filters["temperature"] = lambda c: (
        metrics.BY_KEY["temperature"].in_unit(_unit()).shown(c)
    )
    app.jinja_env.globals["bp_table"] = data.BP_TABLE
    app.jinja_env.filters["reading"] = data.format_reading
    app.jinja_env.filters["source"] = data.source_label


def _register(app: Flask) -> None:
    """The database, per-request security, error handlers and every page's blueprint."""
    # Imported here, as in Flask's tutorial, so the admin CLI does not load the pages.
    from . import handlers, security
    from .pages import (
        account,
        admin,
        alerts,
        auth,
        cabinet,
        carecircle,
        carer,
        datasheet,
        doctor,
        firmware,
        habits,
        medications,
        monitoring,
        questionnaire,
        report,
        sharing,
        status,
        welcome,
    )

    db.init_app(app)
    security.init_app(app)
    handlers.init_app(app)
    # Each page's blueprint owns its URLs: its GET, its forms and its JSON.
    for page in (auth, welcome, monitoring, report, datasheet, questionnaire, cabinet):
        app.register_blueprint(page.bp)
    for page in (habits, medications, sharing, doctor, admin, firmware):
        app.register_blueprint(page.bp)
    for page in (carecircle, alerts, carer, account, status):
        app.register_blueprint(page.bp)


def _encrypt_clear_secrets(app: Flask) -> None:
    """TOTP secrets kept in clear by earlier versions are encrypted at the first start."""
    conn = db.connect(app.config["DATABASE"])
    try:
        count = auth_schema.encrypt_clear_secrets(conn, app.extensions["smartcab.keys"])
    finally:
        conn.close()
    if count:
        log.warning("encrypted %d TOTP secrets that were stored in clear", count)


def start_background(app: Flask) -> None:
    """Connect to the broker (live updates, assignments) when WEB_LIVE is on."""
    from . import access, devices, live, security_alerts

    settings: Settings = app.config["SETTINGS"]
    if not app.config["LIVE"]:
        return

    def assignments():
        conn = db.connect(app.config["DATABASE"])
        try:
            return devices.assignments(conn)
        finally:
            conn.close()

    def report_audit(entry: dict) -> None:
        conn = db.connect(app.config["DATABASE"])
        try:
            access.record_report_audit(conn, entry)
        finally:
            conn.close()

    def publish_alerts() -> None:
        conn = db.connect(app.config["DATABASE"])
        try:
            security_alerts.publish_pending(conn, hub)
        finally:
            conn.close()

    hub = live.Hub(
        settings.mqtt,
        settings.sse_clients,
        assignments,
        gallery=app.extensions["smartcab.gallery"],
        on_audit=report_audit,
        on_connected=publish_alerts,
    )
    app.extensions["smartcab.hub"] = hub
    from .pages import firmware

    firmware.auto_offer(settings, hub)
    hub.start()


def stop_background(app: Flask) -> None:
    hub = app.extensions.pop("smartcab.hub", None)
    if hub is not None:
        hub.stop()
    app.extensions["smartcab.mailer"].close()
    app.extensions["smartcab.data"].close()


def _unit() -> str:
    """The signed-in person's temperature unit, ``°C`` until they choose ``°F``."""
    return preferences.temperature_symbol(g.get("prefs"))


def _tz() -> str | None:
    """The signed-in person's time zone for the pages' times (UTC until they choose one)."""
    return g.get("tz")


def _counted(n: int | float, one: str, many: str) -> str:
    """A number with its noun, singular for exactly one: ``1 drink``, ``2 drinks``."""
    return f"{n:g} {one if n == 1 else many}"
