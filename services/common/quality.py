"""Data-quality flags: readings that cannot be physiological are kept, but marked with why.

Real prototype data holds such readings (an 8 bpm heart rate, 152 bpm
spikes from a loose sensor). They stay in InfluxDB for the record, with
``flagged=true`` and a ``reason``, and charts, summaries and alerts leave them out.
These bounds are about sensor plausibility, not clinical normality, so they are
fixed (``services/common/metrics.py``) rather than configurable.
"""

from .metrics import BY_KEY


def flag_reason(metric: str, value: float) -> str | None:
    """Return why ``value`` cannot be a real ``metric`` reading, or None if it can."""
    record = BY_KEY.get(metric)
    if record is None:
        return f"unknown metric {metric}"
    if value != value:  # NaN never equals itself
        return "not a number"
    low, high = record.plausible
    unit = record.unit
    if metric == "heart_rate" and value == 0:
        return "heart rate of 0 (no pulse detected, sensor not worn?)"
    if value < low:
        return f"{value:g} {unit} is below the plausible {low:g} {unit}"
    if value > high:
        return f"{value:g} {unit} is above the plausible {high:g} {unit}"
    return None
