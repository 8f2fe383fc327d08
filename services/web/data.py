"""What the pages show, shaped from the history queries; no query language here.

The queries themselves live in the pipeline's history module (see history.py
for the thin adapter); this module turns their rows into cards, chart series,
data-sheet rows and CSV lines, and checks hand-entered readings.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common import bp, metrics
from services.common.devices import MANUAL_PREFIX
from services.common.metrics import GROUP_BY_KEY, GROUPS, Group
from services.common.quality import flag_reason

from . import verdicts
from .errors import ValidationError

METRICS = tuple(m.key for g in GROUPS for m in g.metrics)

# The vitals page's checkboxes, in their order: blood pressure draws both systolic and diastolic.
CHART_METRICS = tuple(
    (g.key, g.title, tuple(m.key for m in g.metrics))
    for g in (GROUP_BY_KEY[k] for k in ("temperature", "bp", "spo2", "heart_rate"))
)


# What the browser's script needs to label, unit and round a metric, as the pages do.
def metric_table(temperature_unit: str = "°C") -> dict:
    """Per metric, as one person reads it; ``scale`` and ``offset`` turn a stored value into it."""
    shown = (m.in_unit(temperature_unit) if m.key == "temperature" else m for m in metrics.METRICS)
    return {
        m.key: {
            "label": m.label,
            "short": m.short,
            "unit": m.unit,
            "decimals": m.decimals,
            "low": m.low,
            "high": m.high,
            "range": m.range_text,
            "if_low": verdicts.of_metric(m, m.low - 1).todo,
            "if_high": verdicts.of_metric(m, m.high + 1).todo,
            "scale": m.scale,
            "offset": m.offset,
        }
        for m in shown
    }


# Blood pressure's categories, so a live reading is named as the server names it.
BP_TABLE = bp.table()

# Blood pressure's two numbers of one measurement arrive this close together.
PAIR_MS = 5000

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
    ranges: tuple[tuple[str, str, str], ...]  # (label, usual range, unit) per metric
    source: str | None = None  # which device the reading came from, when that is a question
    verdict: verdicts.Verdict | None = None  # the shown reading against its usual range
    attention: dict | None = None  # the newest out-of-range reading not acknowledged yet

    @property
    def attention_is_shown(self) -> bool:
        """The reading waiting to be marked as seen is the one the card shows."""
        return bool(self.attention and self.ts and abs(self.attention["ts"] - self.ts) <= PAIR_MS)


def source_label(device: str | None) -> str:
    """How a reading's source reads on a card or a row: the device id, or "typed in"."""
    if not device:
        return ""
    return "typed in" if device.startswith(MANUAL_PREFIX) else device


def format_reading(value: float | None, metric: str) -> str:
    """A value with its metric's decimals from the one metric table (``–`` for none)."""
    return metrics.BY_KEY[metric].format(value)


def groups(temperature_unit: str = "°C") -> tuple[Group, ...]:
    """The cards' groups as one person reads them (their temperature unit)."""
    return tuple(g.in_unit(temperature_unit) for g in GROUPS)


def cards(
    latest: Mapping[str, dict],
    pending: list[dict] | None = None,
    temperature_unit: str = "°C",
    sources: bool = False,
) -> list[Card]:
    """The four cards in their fixed order, from ``latest`` (metric -> reading, as stored).

    ``pending`` are the unacknowledged out-of-range readings (``attention.pending``). With
    ``sources`` (a patient with more than one watch), each card says which device its
    reading came from, so two watches' values do not pass for one jumpy reading.
    """
    waiting = {p["key"]: p for p in pending or ()}
    return [_card(g, latest, waiting.get(g.key), sources) for g in groups(temperature_unit)]


def _card(
    group: Group, latest: Mapping[str, dict], waiting: dict | None = None, sources: bool = False
) -> Card:
    # Blood pressure's card shows "sys/dia" and follows the systolic reading's time.
    readings = [latest.get(m.key) for m in group.metrics]
    first = readings[0]
    value = "--"
    if first:
        value = "/".join(
            m.format(m.shown(r["value"])) for m, r in zip(group.metrics, readings, strict=True) if r
        )
    present = [r for r in readings if r]
    # A flagged reading is not physiological: it has no place against the usual range.
    plausible = [
        m.shown(r["value"]) if r and not r["flagged"] else None
        for m, r in zip(group.metrics, readings, strict=True)
    ]
    return Card(
        group.key,
        group.title,
        group.unit,
        value,
        first and first["ts"],
        any(r["flagged"] for r in present),
        next((r.get("reason") for r in present if r.get("reason")), None),
        tuple(m.key for m in group.metrics),
        group.about,
        tuple((m.label, m.range_text, m.unit) for m in group.metrics),
        source_label(first.get("device")) if sources and first else None,
        verdicts.of_group(group, plausible),
        waiting,
    )


def pressure_pairs(systolic: list[dict], diastolic: list[dict], within_ms: int = PAIR_MS) -> list:
    """Newest-first systolic and diastolic readings joined into ``128/84`` pairs."""
    left = list(diastolic)
    out = []
    for s in systolic:
        partner = next((d for d in left if abs(d["ts"] - s["ts"]) <= within_ms), None)
        if partner is not None:
            left.remove(partner)
        values = [s["value"], partner["value"] if partner else None]
        flagged = s["flagged"] or bool(partner and partner["flagged"])
        reason = s.get("reason") or (partner.get("reason") if partner else None)
        plausible = values if not flagged else [None, None]
        verdict = verdicts.of_group(GROUP_BY_KEY["bp"], plausible)
        text = "/".join(
            m.format(v)
            for m, v in zip(GROUP_BY_KEY["bp"].metrics, values, strict=True)
            if v is not None
        )
        out.append(
            {
                "ts": s["ts"],
                "values": values,
                "text": text,
                "flagged": flagged,
                "reason": reason,
                "verdict": verdict.as_json() if verdict else None,
            }
        )
    return out


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
