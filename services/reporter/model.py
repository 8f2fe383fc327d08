"""What a report holds, as plain dataclasses; every section but the header may be absent.

``None`` (or an empty tuple) means "no data recorded", and the renderer says so
in the report rather than leaving the section out, so a reader knows it was
looked for.
"""

from dataclasses import dataclass, field
from datetime import datetime

from services.common.alerts import alert_text
from services.common.metrics import METRICS, range_flag

# metric -> (label, unit, normal low, normal high), read from services/common/metrics.py.
# "Normal" is a usual adult resting range for reading the chart, not a diagnosis.
VITALS: dict[str, tuple[str, str, float, float]] = {
    m.key: (m.label, m.unit, m.low, m.high) for m in METRICS
}


@dataclass(frozen=True)
class Period:
    """Half-open ``[start, end)``, timezone-aware."""

    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


@dataclass(frozen=True)
class Patient:
    username: str
    display_name: str
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class VitalSummary:
    """Plausible readings of one metric over the period, and how many were left out."""

    metric: str
    count: int
    minimum: float | None
    mean: float | None
    maximum: float | None
    in_range: int  # readings within the normal range of VITALS
    flagged: int  # implausible readings left out of everything above

    @property
    def in_range_share(self) -> float | None:
        return self.in_range / self.count if self.count else None


@dataclass(frozen=True)
class ChartPoint:
    time_ms: int  # the middle of the bucket
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class AlertEntry:
    time_ms: int
    device: str
    kind: str
    key: str
    level: str
    message: str

    @property
    def text(self) -> str:
        """The message in the metric table's words, however old the alert."""
        return alert_text({"kind": self.kind, "message": self.message})


@dataclass(frozen=True)
class ScoreSummary:
    """The partial NEWS2-style score over the period (see services/common/alerts.py)."""

    label: str
    scores: int  # how many times it was computed
    maximum: int
    maximum_ms: int
    mean: float
    latest: int
    at_or_above_alert: int  # scores at or above the alert level
    alert_level: int
    daily_max: tuple[tuple[int, int], ...] = ()  # (day start ms, max score)


@dataclass(frozen=True)
class BloodTest:
    taken_ms: int
    test: str
    value: float
    unit: str
    ref_low: float | None
    ref_high: float | None
    note: str | None = None

    @property
    def flag(self) -> str:
        if self.ref_low is None and self.ref_high is None:
            return "no range"
        return range_flag(self.value, self.ref_low, self.ref_high) or "normal"


@dataclass(frozen=True)
class Advice:
    area: str
    text: str
    doctor: str | None
    updated_ms: int


@dataclass(frozen=True)
class Note:
    text: str
    doctor: str | None
    created_ms: int


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    answered_ms: int


@dataclass(frozen=True)
class Habit:
    """One habit over the period: e.g. sleep 7.1 h a night on average over 6 days."""

    habit: str
    unit: str
    days: int
    mean: float
    total: float


@dataclass(frozen=True)
class SnackDay:
    day_ms: int
    taken: dict[str, int]  # item -> how many were taken out of the cabinet that day


@dataclass(frozen=True)
class MedicationAdherence:
    """One medication over the period: its doses by outcome, and the missed ones' times."""

    name: str
    scheduled: int  # doses whose window closed in the period
    on_time: int
    early: int
    late: int
    missed: int
    doubled: int
    missed_ms: tuple[int, ...] = ()

    @property
    def on_time_pct(self) -> float | None:
        return 100 * self.on_time / self.scheduled if self.scheduled else None


@dataclass(frozen=True)
class Report:
    """Everything one report shows."""

    patient: Patient
    period: Period
    generated: datetime
    requested_by: str
    timezone: str = "UTC"
    vitals: tuple[VitalSummary, ...] = ()
    charts: dict[str, tuple[ChartPoint, ...]] = field(default_factory=dict)
    alerts: tuple[AlertEntry, ...] = ()
    alert_total: int = 0
    score: ScoreSummary | None = None
    blood_tests: tuple[BloodTest, ...] | None = None
    advice: tuple[Advice, ...] | None = None
    notes: tuple[Note, ...] | None = None
    questionnaire: tuple[Answer, ...] | None = None
    habits: tuple[Habit, ...] | None = None
    snacks: tuple[SnackDay, ...] | None = None
    medications: tuple[MedicationAdherence, ...] | None = None
