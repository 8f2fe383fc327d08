"""The data sheet: every reading in pages of rows, its JSON, and the CSV download."""

import csv
import io
from datetime import UTC, datetime

from flask import Response, g, jsonify, render_template, request

from .. import data, devices, ranges
from ..db import get_db
from ..errors import DataUnavailable
from . import PatientPages, health, rate_limit

bp = PatientPages("datasheet", __name__)

PAGE_SIZE = 25
CSV_COLUMNS = (
    "time_utc",
    "heart_rate_bpm",
    "temperature_c",
    "spo2_percent",
    "bp_systolic_mmhg",
    "bp_diastolic_mmhg",
    "flagged",
)


@bp.route("/p/<username>/datasheet")
def datasheet():
    before = request.args.get("before", type=int)
    try:
        rows, older = health().sheet(g.patient.username, before, PAGE_SIZE)
        error = None
    except DataUnavailable as exc:
        rows, older, error = [], None, str(exc)  # the page says why it is empty
    return render_template(
        "datasheet.html",
        patient=g.patient,
        rows=rows,
        sources=devices.several_watches(get_db(), g.patient.id),
        first=before is None,
        older=older,
        error=error,
    )


@bp.route("/p/<username>/datasheet.csv")
def datasheet_csv():
    start, end = ranges.parse(request.args, datetime.now(UTC))
    rate_limit("export")
    rows = health().sheet_range(g.patient.username, start, end)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(data.csv_row(row))
    name = f"health-plus-{g.patient.username}-{end:%Y%m%d}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/api/p/<username>/datasheet")
def api_datasheet():
    before = request.args.get("before", type=int)
    found, older = health().sheet(g.patient.username, before, PAGE_SIZE)
    return jsonify(rows=found, older=older)
