"""Blood pressure categories after one named guideline, for every page and report.

The categories are the ACC/AHA 2017 guideline's (Whelton PK et al., "2017
ACC/AHA/AAPA/ABC/ACPM/AGS/APhA/ASH/ASPC/NMA/PCNA Guideline for the Prevention,
Detection, Evaluation, and Management of High Blood Pressure in Adults",
Hypertension 2018;71:e13-e115), with its "hypertensive crisis" above 180/120. The
guideline names no low category; a pressure below the usual range of the metric
table (``metrics.py``, 90/60 after the NHS) is called low here, and says so.

Like the usual ranges, a category is for reading one measurement, not a diagnosis:
the guideline bases one on the average of several readings on several occasions.
"""

from dataclasses import dataclass

from .metrics import BY_KEY

GUIDELINE = "ACC/AHA 2017"


@dataclass(frozen=True)
class Category:
    """One category: a reading is in it when either number reaches its bound."""

    key: str
    label: str
    short: str  # the badge beside a value: "Crisis", "Stage 2"
    systolic: float | None  # from this systolic pressure (mmHg) up
    diastolic: float | None  # from this diastolic pressure up
    above: bool  # the bounds themselves are outside (crisis is *over* 180/120)
    severity: str  # ok, caution, warn, bad: how the page colours it
    advice: str  # what to do, in plain words

    def holds(self, systolic: float, diastolic: float | None) -> bool:
        def past(value: float | None, bound: float | None) -> bool:
            if value is None or bound is None:
                return False
            return value > bound if self.above else value >= bound

        return past(systolic, self.systolic) or past(diastolic, self.diastolic)

    @property
    def named(self) -> str:
        """The category with its source, as the pages print it."""
        return f"{self.label} ({GUIDELINE})" if self.key != LOW.key else self.label

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "short": self.short,
            "named": self.named,
            "systolic": self.systolic,
            "diastolic": self.diastolic,
            "above": self.above,
            "severity": self.severity,
            "advice": self.advice,
        }


_SYS, _DIA = BY_KEY["bp_systolic"], BY_KEY["bp_diastolic"]

CRISIS = Category(
    "crisis",
    "Hypertensive crisis",
    "Crisis",
    180,
    120,
    True,
    "bad",
    "Wait five minutes, sitting quietly, and measure again. If it is still this high,"
    " contact your doctor at once. If you also have chest pain, shortness of breath, back"
    " pain, numbness, weakness, a change in vision or trouble speaking, call emergency"
    " services now.",
)
STAGE_2 = Category(
    "stage2",
    "Stage 2 hypertension",
    "Stage 2",
    140,
    90,
    False,
    "bad",
    "Contact your doctor soon, within a few days: pressure this high usually needs"
    " treatment as well as changes in daily habits.",
)
STAGE_1 = Category(
    "stage1",
    "Stage 1 hypertension",
    "Stage 1",
    130,
    80,
    False,
    "warn",
    "Measure again on other days and tell your doctor at your next visit: less salt,"
    " more activity and less alcohol come first; they may consider medication.",
)
LOW = Category(
    "low",
    f"Low (below {_SYS.low:g}/{_DIA.low:g} {_SYS.unit})",
    "Low",
    None,
    None,
    False,
    "warn",
    "If you feel dizzy, faint or unwell, sit or lie down and contact your doctor.",
)
ELEVATED = Category(
    "elevated",
    "Elevated",
    "Elevated",
    120,
    None,
    False,
    "caution",
    "Healthy habits keep it from rising: less salt, more activity. Mention it at your"
    " next check-up.",
)
NORMAL = Category(
    "normal", "Normal", "Normal", None, None, False, "ok", "Keep up your healthy habits."
)
# From the most severe; the first that holds is the reading's category.
CATEGORIES: tuple[Category, ...] = (CRISIS, STAGE_2, STAGE_1, LOW, ELEVATED, NORMAL)


def is_low(systolic: float, diastolic: float | None) -> bool:
    return systolic < _SYS.low or (diastolic is not None and diastolic < _DIA.low)


def category(systolic: float, diastolic: float | None = None) -> Category:
    """The category of one reading (a systolic pressure alone is judged by itself)."""
    for found in (CRISIS, STAGE_2, STAGE_1):
        if found.holds(systolic, diastolic):
            return found
    if is_low(systolic, diastolic):
        return LOW
    return ELEVATED if ELEVATED.holds(systolic, diastolic) else NORMAL


def table() -> dict:
    """What the browser's script needs to name a live reading's category the same way."""
    return {
        "guideline": GUIDELINE,
        "low": [_SYS.low, _DIA.low],
        "categories": [c.as_json() for c in CATEGORIES],
    }
