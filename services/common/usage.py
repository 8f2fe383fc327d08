"""Starting a long-running service: ``--help``, its settings, and the signals that stop it."""

import argparse
import logging
import signal
import threading
from typing import Any

from . import logs
from .errors import ConfigError

EPILOG = (
    "Settings come from environment variables; docs/configuration.md lists each with its default."
)


def parse_service_args(prog: str, description: str | None, argv: list[str] | None) -> None:
    """Answer ``--help``; refuse any other argument with the usage line (exit 2)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=EPILOG)
    parser.parse_args(argv)


def read_settings(service: str, cls: Any, log: logging.Logger) -> Any:
    """``cls.from_env()``, or None once ``<service>.bad_config`` says what is wrong."""
    try:
        return cls.from_env()
    except ConfigError as exc:
        logs.event(log, logging.ERROR, f"{service}.bad_config", error=exc)
        return None


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """An event that SIGTERM and SIGINT set: the service's clean shutdown starts there."""
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
