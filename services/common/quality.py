"""Data-quality flags: readings that cannot be physiological are kept, but marked with why.

Real prototype data holds such readings (an 8 bpm heart rate, 152 bpm
spikes from a loose sensor). They stay in InfluxDB for the record, with
``flagged=true`` and a ``reason``, and charts, summaries and alerts leave them out.
These bounds are about sensor plausibility, not clinical normality, so they are
fixed here rather than configurable.
"""

# metric -> (lowest plausible, highest plausible); outside is flagged
PLAUSIBLE = {
    "heart_rate": (25.0, 250.0),
    "temperature": (30.0, 45.0),
    "spo2": (50.0, 100.0),
    "bp_systolic": (40.0, 300.0),
    "bp_diastolic": (20.0, 200.0),
}

UNITS = {
    "heart_rate": "bpm",
    "temperature": "°C",
    "spo2": "%",
    "bp_systolic": "mmHg",
    "bp_diastolic": "mmHg",
}


def flag_reason(metric: str, value: float) -> str | None:
    """Return why ``value`` cannot be a real ``metric`` reading, or None if it can."""
    bounds = PLAUSIBLE.get(metric)
    if bounds is None:
        return f"unknown metric {metric}"
    if value != value:  # NaN never equals itself
        return "not a number"
    low, high = bounds
    unit = UNITS[metric]
    if metric == "heart_rate" and value == 0:
        return "heart rate of 0 (no pulse detected, sensor not worn?)"
    if value < low:
        return f"{value:g} {unit} is below the plausible {low:g} {unit}"
    if value > high:
        return f"{value:g} {unit} is above the plausible {high:g} {unit}"
    return None
