"""What a reading means: inside or outside its usual range, blood pressure's category, what to do.

The ranges and the words come from the one metric table (``services/common/metrics.py``)
and the blood-pressure guideline (``services/common/bp.py``); this module only puts
them together for a card, a chip or an acknowledgement.
"""

from dataclasses import dataclass

from services.common import bp
from services.common.metrics import BY_KEY, GROUP_BY_KEY, Group, Metric

# A side of the usual range as the card says it, colour aside.
SIDE_WORDS = {"low": "Low", "high": "High"}


@dataclass(frozen=True)
class Verdict:
    """How one reading (or blood pressure's pair) stands against its usual range."""

    side: str | None  # low or high outside the usual range, None inside it
    severity: str  # ok, caution, warn or bad: the card's colour
    badge: str  # one or two words beside the value: "Low", "Stage 2"
    words: str  # the sentence under the value
    todo: str  # what to do, empty when nothing needs doing
    summary: str  # the standing in a few words, for a banner: "below the usual range (…)"
    category: str | None = None  # blood pressure's category with its guideline

    def as_json(self) -> dict:
        return {
            "side": self.side,
            "severity": self.severity,
            "badge": self.badge,
            "words": self.words,
            "todo": self.todo,
            "summary": self.summary,
            "category": self.category,
        }


def _fill(text: str, metric: Metric) -> str:
    return text.format(low=f"{metric.low:g}", high=f"{metric.high:g}", unit=metric.unit)


def of_metric(metric: Metric, value: float) -> Verdict:
    """One metric's reading against its usual range."""
    side = metric.side(value)
    usual = f"{metric.range_text} {metric.unit}"
    if side is None:
        summary = f"within the usual range ({usual})"
        return Verdict(None, "ok", "", f"Within the usual range ({usual}).", "", summary)
    todo = metric.if_low if side == "low" else metric.if_high
    summary = f"{'below' if side == 'low' else 'above'} the usual range ({usual})"
    words = f"{SIDE_WORDS[side]}: {summary}."
    return Verdict(side, "warn", SIDE_WORDS[side], words, _fill(todo, metric), summary)


def of_pressure(systolic: float, diastolic: float | None) -> Verdict:
    """Blood pressure's pair: its category after the guideline, and whether it is usual."""
    sys_m, dia_m = BY_KEY["bp_systolic"], BY_KEY["bp_diastolic"]
    found = bp.category(systolic, diastolic)
    sides = [sys_m.side(systolic)] + ([dia_m.side(diastolic)] if diastolic is not None else [])
    side = "low" if "low" in sides else "high" if "high" in sides else None
    usual = f"{sys_m.low:g}/{dia_m.low:g} to {sys_m.high:g}/{dia_m.high:g} {sys_m.unit}"
    where = {"low": "Below", "high": "Above", None: "Within"}[side]
    words = f"{where} the usual range ({usual})."
    todo = found.advice if found is not bp.NORMAL else ""
    return Verdict(side, found.severity, found.short, words, todo, found.named, found.named)


def of_group(group: Group, values: list[float | None]) -> Verdict | None:
    """A card's verdict from its metrics' values (None when it has no reading)."""
    if not values or values[0] is None:
        return None
    if group.key == "bp":
        return of_pressure(values[0], values[1] if len(values) > 1 else None)
    return of_metric(group.metrics[0], values[0])


def group_of(key: str) -> str:
    """The card an alert or a metric belongs to (``bp_systolic`` -> ``bp``); else the key."""
    for group in GROUP_BY_KEY.values():
        if any(m.key == key for m in group.metrics):
            return group.key
    return key
