"""What the pages show, shaped from the history queries; no query language here.

The queries themselves live in the pipeline's history module (see history.py
for the thin adapter); this module turns their rows into cards, chart series,
data-sheet rows and CSV lines, and checks hand-entered readings.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.quality import flag_reason

from .errors import ValidationError

METRICS = ("temperature", "spo2", "bp_systolic", "bp_diastolic", "heart_rate")

# The vitals page's checkboxes: blood pressure draws both systolic and diastolic.
CHART_METRICS = (
    ("temperature", "Temperature", ("temperature",)),
    ("bp", "Blood Pressure", ("bp_systolic", "bp_diastolic")),
    ("spo2", "Blood oxygen", ("spo2",)),
    ("heart_rate", "Heart Rate", ("heart_rate",)),
)

# Hand entry accepts only what a home cuff or oximeter measures, within these bounds.
MANUAL_LIMITS = {"bp_systolic": (60, 260), "bp_diastolic": (30, 160), "spo2": (70, 100)}


@dataclass(frozen=True)
class Card:
    """One monitoring card as the template draws it."""

    key: str
    title: str
    unit: str
    value: str
    ts: int | None
    flagged: bool
    reason: str | None
    metrics: tuple[str, ...]
    about: str


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1f}" if metric == "temperature" else f"{value:.0f}"


BP_METRICS = ("bp_systolic", "bp_diastolic")
ABOUT = {
    "temperature": "Normal body temperature is about 36.1 to 37.2 °C.",
    "spo2": "Healthy blood oxygen saturation is usually 95 % or more.",
    "bp": "Below 120/80 mmHg is considered normal.",
    "heart_rate": "A resting heart rate of 60 to 100 beats per minute is typical for adults.",
}


def cards(latest: Mapping[str, dict]) -> list[Card]:
    """The four cards in their fixed order, from ``latest`` (metric -> reading)."""

    def one(metric: str, title: str, unit: str) -> Card:
        r = latest.get(metric)
        value = _fmt(metric, r["value"]) if r else "--"
        return Card(
            metric,
            title,
            unit,
            value,
            r and r["ts"],
            bool(r and r["flagged"]),
            r and r.get("reason"),
            (metric,),
            ABOUT[metric],
        )

    sys_r, dia_r = latest.get("bp_systolic"), latest.get("bp_diastolic")
    readings = [r for r in (sys_r, dia_r) if r]
    value = "--"
    if sys_r:
        value = _fmt("bp_systolic", sys_r["value"])
        value += "/" + _fmt("bp_diastolic", dia_r["value"]) if dia_r else ""
    bp = Card(
        "bp",
        "Blood Pressure",
        "mmHg",
        value,
        sys_r and sys_r["ts"],
        any(r["flagged"] for r in readings),
        next((r.get("reason") for r in readings if r.get("reason")), None),
        BP_METRICS,
        ABOUT["bp"],
    )
    return [
        one("temperature", "Body Temperature", "°C"),
        one("spo2", "Blood Oxygen level", "%"),
        bp,
        one("heart_rate", "Heart Rate", "bpm"),
    ]


def latest_json(latest: Mapping[str, dict]) -> dict:
    return {m: dict(r) for m, r in latest.items()}


def parse_manual(form: Mapping[str, str]) -> list[tuple[str, float]]:
    """Blood pressure (both numbers) and/or SpO2 from the form, checked for sense."""
    out: list[tuple[str, float]] = []
    sys_text, dia_text = form.get("bp_systolic", "").strip(), form.get("bp_diastolic", "").strip()
    if sys_text or dia_text:
        if not (sys_text and dia_text):
            raise ValidationError("Enter both blood pressure numbers.")
        systolic, diastolic = _number(sys_text, "bp_systolic"), _number(dia_text, "bp_diastolic")
        if diastolic >= systolic:
            raise ValidationError("The first (systolic) number must be the larger one.")
        out += [("bp_systolic", systolic), ("bp_diastolic", diastolic)]
    spo2_text = form.get("spo2", "").strip()
    if spo2_text:
        out.append(("spo2", _number(spo2_text, "spo2")))
    if not out:
        raise ValidationError("Enter a blood pressure or a blood oxygen reading.")
    return out


def _number(text: str, metric: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a number.") from None
    low, high = MANUAL_LIMITS[metric]
    if not low <= value <= high or flag_reason(metric, value):
        raise ValidationError(f"{value:g} is outside what a home device measures ({low}-{high}).")
    return value


def iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def csv_row(row: Mapping) -> list:
    def cell(metric):
        v = row.get(metric)
        return "" if v is None else f"{v:g}"

    return [
        iso(row["ts"]),
        cell("heart_rate"),
        cell("temperature"),
        cell("spo2"),
        cell("bp_systolic"),
        cell("bp_diastolic"),
        "yes" if row.get("flagged") else "",
    ]
