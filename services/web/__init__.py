"""The Health Plus dashboard: a Flask app factory in the style of Flask's tutorial."""

import logging
from pathlib import Path

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from . import db as schema
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
        BASE_URL=settings.base_url,
        THROTTLE=Policy(),
        MAX_CONTENT_LENGTH=64 * 1024,
        LIVE=settings.live,
        # How often an idle live stream re-checks its session and sends a keep-alive.
        SSE_HEARTBEAT=15.0,
    )
    if test_config:
        app.config.update(test_config)
    app.config["DATABASE"] = Path(app.config["DATABASE"])
    schema.migrate(app.config["DATABASE"])

    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    from . import (
        admin,
        auth,
        cabinet_views,
        data,
        db_access,
        habit_views,
        history,
        mailer,
        monitoring,
        record_views,
        security,
        sharing_views,
    )
    from .gallery import Gallery

    db_access.init_app(app)
    security.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(monitoring.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(cabinet_views.bp)
    app.register_blueprint(habit_views.bp)
    app.register_blueprint(record_views.bp)
    app.register_blueprint(sharing_views.bp)
    app.extensions["smartcab.gallery"] = Gallery(settings.gallery_dir, settings.gallery_keep)
    app.extensions["smartcab.mailer"] = mailer.Mailer(settings.smtp)
    app.extensions["smartcab.data"] = app.config.get("HISTORY") or history.HealthData(
        settings.influx
    )
    app.jinja_env.filters["when"] = _when
    app.jinja_env.filters["day"] = _day
    app.jinja_env.globals["metric_table"] = data.METRIC_TABLE

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        from flask import request

        if request.path.startswith("/api/"):
            return {"error": exc.name, "detail": exc.description}, exc.code
        return render_template("error.html", error=exc), exc.code

    return app


def start_background(app: Flask) -> None:
    """Connect to the broker (live updates, assignments) when WEB_LIVE is on."""
    from . import devices, live

    settings: Settings = app.config["SETTINGS"]
    if not app.config["LIVE"]:
        return

    def assignments():
        conn = schema.connect(app.config["DATABASE"])
        try:
            return devices.assignments(conn)
        finally:
            conn.close()

    def report_audit(entry: dict) -> None:
        from . import sharing

        conn = schema.connect(app.config["DATABASE"])
        try:
            sharing.record_report_audit(conn, entry)
        finally:
            conn.close()

    hub = live.Hub(
        settings.mqtt,
        settings.sse_clients,
        assignments,
        gallery=app.extensions["smartcab.gallery"],
        on_audit=report_audit,
    )
    app.extensions["smartcab.hub"] = hub
    hub.start()


def stop_background(app: Flask) -> None:
    hub = app.extensions.pop("smartcab.hub", None)
    if hub is not None:
        hub.stop()
    app.extensions["smartcab.mailer"].close()
    app.extensions["smartcab.data"].close()


def _when(ts_ms: int | None) -> str:
    """A reading's time as the seed shows it (``11 Jul 08:49:58``), in UTC."""
    from datetime import UTC, datetime

    if ts_ms is None:
        return "never"
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%d %b %H:%M:%S")


def _day(ts_s: int | None) -> str:
    """A Unix-seconds time as a date (``11 Jul 2026``), in UTC."""
    from datetime import UTC, datetime

    if ts_s is None:
        return "–"
    return datetime.fromtimestamp(ts_s, UTC).strftime("%d %b %Y")
