"""Serve the dashboard with waitress until SIGTERM or SIGINT, then stop cleanly."""

import logging
import signal
import threading

from waitress import create_server

from services.common import logs
from services.common.database import POSTGRESQL, DatabaseError
from services.common.errors import ConfigError

from . import create_app, db, start_background, stop_background
from .settings import Settings

log = logging.getLogger("services.web")


class _Stop(SystemExit):
    """Raised in the main thread by SIGTERM/SIGINT to leave waitress's loop.

    A SystemExit because waitress's loop re-raises only that and KeyboardInterrupt: a
    signal that lands while it handles a socket event would otherwise be taken for that
    handler's error and swallowed, and the web would not stop.
    """


def _open_database(app, settings: Settings):
    """What the server keeps open of the database; ``close()`` it at the end.

    On SQLite, a connection held while the dashboard runs: it keeps the database's -wal
    and -shm files, which the reporter, mounting the data read only, cannot create to
    read it. On PostgreSQL, the pool the request threads share (a connection per request
    would cost a log-in each time).
    """
    if settings.database.dialect == POSTGRESQL:
        pool = settings.database.pool(settings.threads)
        app.extensions["smartcab.pool"] = pool
        return pool
    holder = db.connect(settings.database)
    holder.execute("SELECT COUNT(*) FROM schema_version").fetchone()  # opens the WAL
    return holder


def serve() -> int:
    """Run until SIGTERM or SIGINT; 2 when the settings are wrong."""
    logs.setup("web")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logs.event(log, logging.ERROR, "web.bad_config", error=exc)
        return 2
    try:
        app = create_app(settings=settings)
        held = _open_database(app, settings)
    except DatabaseError as exc:
        logs.event(log, logging.ERROR, "web.database_unavailable", db=settings.database, error=exc)
        return 2
    start_background(app)
    server = create_server(
        app,
        host=settings.host,
        port=settings.port,
        threads=settings.threads,
        ident="health-plus",
        # Each live stream holds a worker thread; refuse new connections past this.
        connection_limit=settings.threads * 8,
        channel_timeout=120,
        # waitress drops X-Forwarded-* by default; behind our proxy the app's
        # ProxyFix (one hop) must see them to know the request came over HTTPS.
        clear_untrusted_proxy_headers=not settings.trust_proxy,
    )
    stopping = threading.Event()

    def on_signal(*_):
        if not stopping.is_set():
            stopping.set()
            raise _Stop

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    logs.event(
        log,
        logging.INFO,
        "web.started",
        port=settings.port,
        data=settings.data_dir,
        threads=settings.threads,
    )
    try:
        server.run()
    except _Stop:
        pass
    finally:
        logs.event(log, logging.INFO, "web.stopping")
        stop_background(app)  # closes live streams so worker threads finish
        server.close()
        server.task_dispatcher.shutdown(timeout=5)
        held.close()
    logs.event(log, logging.INFO, "web.stopped")
    return 0
