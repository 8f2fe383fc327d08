"""Figure 7: a 30-day PDF report, InfluxDB queries and rendering, against a one-page fpdf2 file."""

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

from services.common.influx import InfluxClient
from services.reporter import collect, protocol, render, rollups
from services.reporter.settings import Settings
from services.reporter.webdb import WebDirectory
from tests.support.influxdb import InfluxDB
from tests.support.reports import history_lines, make_people

from .harness import Figure, median_seconds


def _one_page(settings: Settings) -> bytes:
    """The reference: the least a PDF with the report's embedded font costs."""
    pdf = FPDF()
    pdf.add_font("DejaVu", "", str(settings.font))
    pdf.add_page()
    pdf.set_font("DejaVu", size=12)
    pdf.cell(0, 10, "Health report · 36.6 °C")
    return bytes(pdf.output())


def reports(quick: bool) -> list[Figure]:
    """30 days at the scheduler's default pace (heart rate and temperature every 30 s).

    Twice: the first report over a stretch of history, which computes and stores
    its hourly rollups, and every later one, which reads them.
    """
    runs = 3 if quick else 7
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        workdir = Path(tmp)
        (workdir / "influxdb").mkdir()
        server = InfluxDB(workdir / "influxdb").start()
        try:
            make_people(workdir)
            settings = Settings.from_env({"SMARTCAB_DATA_DIR": str(workdir), **server.env()})
            with InfluxClient(settings.influx) as client:
                client.ensure_database()
                lines = history_lines("alice", 30, datetime.now(UTC), every_s=30)
                for i in range(0, len(lines), 20_000):
                    client.write(lines[i : i + 20_000])
                period = protocol.last_days(30, settings.tz)
                with WebDirectory(settings.web_database) as directory:
                    patient = directory.patient("alice")

                    def report() -> bytes:
                        data = collect.gather(
                            settings, client, patient, period, "benchmark", directory
                        )
                        return render.render(settings, data)

                    report()  # warm InfluxDB's caches and the font parser

                    def first_report() -> float:
                        client.query(f'DROP MEASUREMENT "{rollups.MEASUREMENT}"')
                        start = time.perf_counter()
                        report()
                        return time.perf_counter() - start

                    # the last first_report() stored the rollups the later ones read
                    cold = statistics.median(first_report() for _ in range(runs))
                    seconds = median_seconds(report, runs)
            reference = median_seconds(lambda: _one_page(settings), runs)
        finally:
            server.kill()
    name = f"30-day report ({len(lines):,} points in InfluxDB 1.6)"
    return [
        _figure(f"{name}, first time: hourly rollups computed", cold, reference),
        _figure(f"{name}, rollups stored", seconds, reference),
    ]


def _figure(name: str, seconds: float, reference: float) -> Figure:
    target = "< 1 s (reference: one-page fpdf2 PDF, same font)"
    ratio = round(seconds / reference, 1)
    return Figure(name, round(seconds, 3), "s", round(reference, 3), ratio, target, seconds < 1.0)
