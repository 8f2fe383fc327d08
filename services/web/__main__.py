"""``python -m services.web``: serve the dashboard, or ``users``/``devices`` admin commands."""

import logging
import signal
import sys
import threading

from services.common import logs
from services.common.errors import ConfigError
from services.common.usage import parse_service_args

log = logging.getLogger("services.web")


class _Stop(Exception):
    """Raised in the main thread by SIGTERM/SIGINT to leave waitress's loop."""


def serve() -> int:
    from waitress import create_server

    from . import create_app, start_background, stop_background
    from .settings import Settings

    logs.setup("web")
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logs.event(log, logging.ERROR, "web.bad_config", error=exc)
        return 2
    app = create_app(settings=settings)
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
    logs.event(log, logging.INFO, "web.stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("users", "devices", "shares"):
        from .cli import run

        return run(argv)
    parse_service_args(
        "python -m services.web",
        "Serve the Health Plus dashboard. Administration: python -m services.web"
        " users|devices|shares --help.",
        argv,
    )
    return serve()


if __name__ == "__main__":
    sys.exit(main())
