"""The vital signs the product measures: one record per metric, read by every service.

The dashboard, the PDF report, the CSV and the FHIR export all take a metric's label,
unit, decimals and usual adult range from here, so they cannot disagree. The wire
units stay in ``protocol.py`` (the firmware runs that module and never imports this
one); each record here names its wire unit and is checked against that table.

The usual adult ranges are for reading a chart, not a diagnosis. One source each:

* heart rate 60–100 bpm at rest: American Heart Association, "All About Heart Rate";
* body temperature 36.1–37.2 °C (97–99 °F): MedlinePlus, "Body temperature norms";
* SpO2 95–100 %: WHO Pulse Oximetry Training Manual (2011);
* blood pressure 90/60 to 120/80 mmHg: NHS, "Blood pressure test" (the ideal range).

The plausible bounds are about sensors, not clinical normality: outside them a reading
cannot be physiological and is flagged (``quality.py``).
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .wire import UNITS as WIRE_UNITS

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Metric:
    """One vital sign as people, the wire, InfluxDB, FHIR and Home Assistant know it."""

    key: str  # the name on MQTT and in InfluxDB
    wire_unit: bytes  # the unit a device sends (protocol.UNITS)
    unit: str  # the unit shown to people and carried on MQTT
    label: str
    decimals: int
    plausible: tuple[float, float]
    normal: tuple[float, float]  # usual adult range, both ends inside it
    loinc: tuple[tuple[str, str], ...]  # (code, display), the first is the main one
    ucum: str
    fhir_profile: str  # R4 vital-signs profile name
    ha_device_class: str | None
    advice: str  # the sentence the dashboard shows; {low}, {high}, {unit} filled in
    short: str  # the dashboard chart's legend, where the full label does not fit
    # What to do when a reading falls below or above the usual range (plain words,
    # {low}, {high} and {unit} filled in); blood pressure's come from its category.
    if_low: str = ""
    if_high: str = ""
    spoken: str = ""  # the name inside a sentence such as an alert's; the short name if empty
    # shown = stored x scale + offset: 1 and 0 in the stored unit, else see ``in_unit``
    scale: float = 1.0
    offset: float = 0.0

    @property
    def low(self) -> float:
        return self.normal[0]

    @property
    def high(self) -> float:
        return self.normal[1]

    @property
    def range_text(self) -> str:
        """The usual range as every output writes it, e.g. ``36.1–37.2``."""
        return range_text(self.low, self.high)

    @property
    def in_words(self) -> str:
        """The label inside a sentence, e.g. ``low heart rate``."""
        return self.label[:1].lower() + self.label[1:]

    @property
    def about(self) -> str:
        return self.advice.format(low=f"{self.low:g}", high=f"{self.high:g}", unit=self.unit)

    def format(self, value: float | None) -> str:
        """A value with this metric's decimals (``–`` when there is none)."""
        return "–" if value is None else f"{value:.{self.decimals}f}"

    def in_range(self, value: float) -> bool:
        return self.low <= value <= self.high

    def side(self, value: float) -> str | None:
        """``low`` or ``high`` outside the usual range, None inside it (ends included)."""
        return range_flag(value, self.low, self.high)

    @property
    def name(self) -> str:
        """The metric as a sentence starts with it: ``Blood oxygen``, ``Systolic pressure``."""
        return self.spoken or self.short

    def shown(self, value: float) -> float:
        """A stored value (in ``wire unit``'s terms, e.g. °C) in this record's unit."""
        return value * self.scale + self.offset

    def in_unit(self, unit: str) -> "Metric":
        """This metric as someone who reads ``unit`` sees it (°F for temperature)."""
        if unit == self.unit:
            return self
        try:
            scale, offset = OTHER_UNITS[(self.key, unit)]
        except KeyError:
            raise ValueError(f"{self.label} is not shown in {unit}") from None

        def conv(value: float) -> float:
            return round(value * scale + offset, self.decimals)

        return replace(
            self,
            unit=unit,
            normal=(conv(self.low), conv(self.high)),
            plausible=(conv(self.plausible[0]), conv(self.plausible[1])),
            scale=scale,
            offset=offset,
        )

    def with_unit(self, value: float) -> str:
        """A value and its unit as people read them: ``88 %``, ``37.2 °C``."""
        return f"{self.format(value)} {self.unit}"


METRICS: tuple[Metric, ...] = (
    Metric(
        "heart_rate",
        b"bpm",
        "bpm",
        "Heart rate",
        0,
        (25.0, 250.0),
        (60.0, 100.0),
        (("8867-4", "Heart rate"),),
        "/min",
        "heartrate",
        None,
        "A resting heart rate of {low} to {high} beats per minute is typical for adults.",
        "Heart rate",
        if_low="Below {low} {unit} at rest is common in fit people. If you feel dizzy, faint or"
        " short of breath, contact your doctor.",
        if_high="Sit down, rest for five minutes and measure again. If it stays above {high}"
        " {unit} at rest, or you have chest pain or feel faint, contact your doctor.",
    ),
    Metric(
        "temperature",
        b"temp",
        "°C",
        "Body temperature",
        1,
        (30.0, 45.0),
        (36.1, 37.2),
        (("8310-5", "Body temperature"),),
        "Cel",
        "bodytemp",
        "temperature",
        "Normal body temperature is about {low} to {high} {unit}.",
        "Temperature",
        if_low="Warm up and measure again in 15 minutes. If it stays below {low} {unit}, or"
        " you feel confused or shiver hard, contact your doctor.",
        if_high="Rest, drink plenty and measure again in an hour. If it keeps rising, lasts"
        " more than two days or comes with a stiff neck or a rash, contact your doctor.",
    ),
    Metric(
        "spo2",
        b"spo2",
        "%",
        "Blood oxygen (SpO2)",
        0,
        (50.0, 100.0),
        (95.0, 100.0),
        (
            ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
            ("2708-6", "Oxygen saturation in Arterial blood"),
        ),
        "%",
        "oxygensat",
        None,
        "Healthy blood oxygen saturation is usually {low} {unit} or more.",
        "Blood oxygen",
        if_low="Sit still, warm your hands and measure again. If it stays below {low} {unit}"
        " or you are short of breath, contact your doctor today; call emergency services if"
        " breathing is hard or your lips turn blue.",
    ),
    Metric(
        "bp_systolic",
        b"sys",
        "mmHg",
        "Blood pressure, systolic",
        0,
        (40.0, 300.0),
        (90.0, 120.0),
        (("8480-6", "Systolic blood pressure"),),
        "mm[Hg]",
        "bp",
        None,
        "A systolic pressure of {low} to {high} {unit} is considered ideal.",
        "Systolic",
        spoken="Systolic pressure",
    ),
    Metric(
        "bp_diastolic",
        b"dia",
        "mmHg",
        "Blood pressure, diastolic",
        0,
        (20.0, 200.0),
        (60.0, 80.0),
        (("8462-4", "Diastolic blood pressure"),),
        "mm[Hg]",
        "bp",
        None,
        "A diastolic pressure of {low} to {high} {unit} is considered ideal.",
        "Diastolic",
        spoken="Diastolic pressure",
    ),
)
BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}
# The other units a person may read a metric in: (scale, offset) from the stored unit.
OTHER_UNITS: dict[tuple[str, str], tuple[float, float]] = {("temperature", "°F"): (1.8, 32.0)}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")


@dataclass(frozen=True)
class Group:
    """A dashboard card and a report chart: one metric, or blood pressure's two."""

    key: str
    title: str
    metrics: tuple[Metric, ...]

    @property
    def in_words(self) -> str:
        """The label inside a sentence, e.g. ``low heart rate``."""
        return self.label[:1].lower() + self.label[1:]

    @property
    def about(self) -> str:
        if len(self.metrics) == 1:
            return self.metrics[0].about
        systolic, diastolic = self.metrics
        return (
            f"Between {systolic.low:g}/{diastolic.low:g} and {systolic.high:g}/"
            f"{diastolic.high:g} {systolic.unit} is considered ideal."
        )

    @property
    def unit(self) -> str:
        return self.metrics[0].unit

    def in_unit(self, unit: str) -> "Group":
        """The group with its metrics in ``unit`` where they can be (°F for temperature)."""
        shown = tuple(m.in_unit(unit) if (m.key, unit) in OTHER_UNITS else m for m in self.metrics)
        return replace(self, metrics=shown)


def _group(key: str, title: str, *metrics: str) -> Group:
    return Group(key, title, tuple(BY_KEY[m] for m in metrics))


# The dashboard's order (the seed's cards); the report draws its charts in its own order.
GROUPS: tuple[Group, ...] = (
    _group("temperature", "Body temperature", "temperature"),
    _group("spo2", "Blood oxygen (SpO2)", "spo2"),
    _group("bp", "Blood pressure", "bp_systolic", "bp_diastolic"),
    _group("heart_rate", "Heart rate", "heart_rate"),
)
GROUP_BY_KEY: dict[str, Group] = {g.key: g for g in GROUPS}


def metric(key: str) -> Metric:
    """The record for ``key``; KeyError for a metric the product does not know."""
    return BY_KEY[key]


def keys() -> tuple[str, ...]:
    return tuple(m.key for m in METRICS)


def range_text(low: float | None, high: float | None) -> str:
    """A range as every page and report writes it; both ends count as inside."""
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    if low is not None:
        return f"≥ {low:g}"
    if high is not None:
        return f"≤ {high:g}"
    return "–"


def range_flag(value: float, low: float | None, high: float | None) -> str | None:
    """``low``, ``high`` or None inside the range (ends included, as ``range_text`` says)."""
    if low is not None and value < low:
        return "low"
    if high is not None and value > high:
        return "high"
    return None


def _check(metrics: Iterable[Metric]) -> None:
    """Fail at import if a record drifts from the wire table the firmware uses."""
    for m in metrics:
        if WIRE_UNITS.get(m.wire_unit) != (m.key, m.unit):
            raise RuntimeError(f"metric {m.key} disagrees with protocol.UNITS")
    if len(WIRE_UNITS) != len(BY_KEY):
        raise RuntimeError("protocol.UNITS and metrics.METRICS list different metrics")


_check(METRICS)
