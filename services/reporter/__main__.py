"""``python -m services.reporter``: the report service, or ``render`` / ``export`` for one file."""

import argparse
import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from services.common import logs
from services.common.errors import ConfigError
from services.common.influx import InfluxClient
from services.common.usage import stop_on_signals

from . import documents, protocol
from .errors import ReporterError
from .model import Patient
from .service import Reporter
from .settings import Settings
from .webdb import WebDirectory

log = logging.getLogger("services.reporter")


def serve(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``); finish the report in hand, then exit 0."""
    stop = stop_on_signals(stop)
    reporter = Reporter(settings)
    reporter.start()
    logs.event(
        log,
        logging.INFO,
        "reporter.started",
        requests=reporter.topics.report_requests,
        reports=settings.reports_dir,
    )
    stop.wait()
    logs.event(log, logging.INFO, "reporter.stopping")
    reporter.stop()
    return 0


def one_file(settings: Settings, args: argparse.Namespace, fmt: str) -> int:
    """Write one report or export for a patient to ``args.out``."""
    asked = (
        {"start": args.start, "end": args.end} if args.start or args.end else {"days": args.days}
    )
    try:
        protocol.parse_period(asked, settings.tz, settings.max_days)  # refused before any work
        directory = None
        if settings.web_database.is_file():
            directory = WebDirectory(settings.web_database)
        with directory or _NoDirectory():
            patient = directory.patient(args.patient) if directory else None
            if directory is not None and patient is None:
                print(f"no enabled patient {args.patient!r} in {settings.web_database}")
                return 1
            patient = patient or Patient(args.patient, args.patient)
            if directory is not None:  # the patient's own days
                settings = settings.in_zone(directory.timezone(args.patient, settings.timezone))
            period = protocol.parse_period(asked, settings.tz, settings.max_days)
            with InfluxClient(settings.influx) as client:
                data = documents.produce(
                    settings,
                    client,
                    directory,
                    patient,
                    period,
                    fmt,
                    "command line",
                    args.flagged,
                    datetime.now(UTC),
                )
    except ReporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    Path(args.out).write_bytes(data)
    print(f"{args.out}: {len(data)} bytes")
    return 0


class _NoDirectory:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m services.reporter", description=__doc__)
    sub = top.add_subparsers(dest="command")
    sub.add_parser("serve", help="answer report requests over MQTT (the default)")
    for name, helptext in (
        ("render", "write a PDF report"),
        ("export", "write a CSV, FHIR or doses CSV file"),
    ):
        cmd = sub.add_parser(name, help=helptext)
        cmd.add_argument("--patient", required=True, help="the patient's user name")
        cmd.add_argument("--days", type=int, default=7, help="whole days up to today (7)")
        cmd.add_argument("--start", help="RFC 3339 start instead of --days")
        cmd.add_argument("--end", help="RFC 3339 end instead of --days")
        cmd.add_argument("--out", required=True, help="the file to write")
        cmd.add_argument(
            "--flagged", choices=("mark", "exclude"), default="mark", help="FHIR: flagged readings"
        )
        if name == "export":
            cmd.add_argument(
                "--format",
                choices=("csv", "fhir", "doses"),
                required=True,
                help="csv: the readings; fhir: a FHIR R4 Bundle; doses: one row per scheduled dose",
            )
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.setup("reporter")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logs.event(log, logging.ERROR, "reporter.bad_config", error=exc)
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "render":
        return one_file(settings, args, "pdf")
    if args.command == "export":
        return one_file(settings, args, args.format)
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
