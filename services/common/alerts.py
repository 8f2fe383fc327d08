"""Alert rules: per-metric thresholds and a PARTIAL NEWS2-style early-warning score.

The score uses the Royal College of Physicians' NEWS2 bands for only three of
its seven parameters (pulse, SpO2 on scale 1, temperature). Respiration rate,
blood pressure as NEWS2 scores it, consciousness and supplemental oxygen are
not measured here, so the number is a partial score, NOT NEWS2 and NOT
clinically validated: it is a prompt to look, never a triage decision.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .metrics import BY_KEY
from .settings import env_float, read_env, setting

PARTIAL_NEWS2_LABEL = "partial NEWS2 (HR, SpO2, temperature only; not clinically validated)"

# metric -> (low, high) alert thresholds; env ALERT_<METRIC>_LOW / _HIGH override them
DEFAULT_THRESHOLDS: dict[str, tuple[float | None, float | None]] = {
    "heart_rate": (40.0, 130.0),
    "temperature": (35.0, 39.0),
    "spo2": (92.0, None),
    "bp_systolic": (90.0, 180.0),
    "bp_diastolic": (None, 110.0),
}


def _optional_float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    if env.get(name, "").strip().lower() in ("off", "none"):
        return None
    if default is None and env.get(name, "") == "":
        return None
    return env_float(env, name, default if default is not None else 0.0, minimum=-1e9)


@dataclass(frozen=True)
class AlertSettings:
    """Thresholds per metric, the partial-score level that alerts, and its reading window."""

    thresholds: Mapping[str, tuple[float | None, float | None]] = field(
        default_factory=lambda: MappingProxyType(dict(DEFAULT_THRESHOLDS))
    )
    news2_alert_score: int = setting(
        "ALERT_NEWS2_SCORE",
        5,
        "partial early-warning score (heart rate, SpO2, temperature only; **not clinically"
        " validated**) that raises an alert",
        minimum=1,
    )
    news2_window: float = setting(
        "ALERT_NEWS2_WINDOW", 600.0, "seconds a reading counts towards that score", minimum=1.0
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "AlertSettings":
        env = os.environ if env is None else env
        thresholds = {}
        for metric, (low, high) in DEFAULT_THRESHOLDS.items():
            key = threshold_env(metric)
            thresholds[metric] = (
                _optional_float(env, f"{key}_LOW", low),
                _optional_float(env, f"{key}_HIGH", high),
            )
        return read_env(cls, env, thresholds=MappingProxyType(thresholds))


def threshold_env(metric: str) -> str:
    """The prefix of a metric's two threshold variables: ``ALERT_<METRIC>``."""
    return f"ALERT_{metric.upper()}"


def threshold_breach(settings: AlertSettings, metric: str, value: float) -> str | None:
    """Return "low" or "high" when ``value`` crosses the metric's threshold, else None."""
    low, high = settings.thresholds.get(metric, (None, None))
    if low is not None and value < low:
        return "low"
    if high is not None and value > high:
        return "high"
    return None


def _name(metric: str) -> str:
    return BY_KEY[metric].name if metric in BY_KEY else metric.replace("_", " ")


def _amount(metric: str, value: float) -> str:
    found = BY_KEY.get(metric)
    return f"{value:g} {found.unit}" if found else f"{value:g}"


def threshold_text(metric: str, value: float, breach: str | None, limit: float | None) -> str:
    """A threshold alert in the metric table's words: ``Blood oxygen 88 % is below 92 %``."""
    if breach and limit is not None:
        side = "below" if breach == "low" else "above"
        return f"{_name(metric)} {_amount(metric, value)} is {side} {_amount(metric, limit)}"
    return f"{_name(metric)} back within its limits ({_amount(metric, value)})"


# The recorder's messages before they used the metric table's words, still in the history.
_OLD_BREACH = re.compile(r"^(\w+) (-?[\d.]+(?:e-?\d+)?) is (below|above) (-?[\d.]+(?:e-?\d+)?)$")
_OLD_CLEARED = re.compile(r"^(\w+) back within thresholds \((-?[\d.]+(?:e-?\d+)?)\)$")
_OLD_POINTS = re.compile(r"\b(heart_rate|spo2|temperature)=(\d+)")


def alert_text(alert: Mapping) -> str:
    """What an alert says to people, whichever version of the recorder wrote it.

    Alerts stored before the messages used the metric table's labels and units
    (``spo2 88 is below 92``) read like new ones (``Blood oxygen 88 % is below 92 %``).
    """
    message = str(alert.get("message") or "")
    if alert.get("kind") == "threshold":
        found = _OLD_BREACH.match(message)
        if found and found[1] in BY_KEY:
            side = "low" if found[3] == "below" else "high"
            return threshold_text(found[1], float(found[2]), side, float(found[4]))
        found = _OLD_CLEARED.match(message)
        if found and found[1] in BY_KEY:
            return threshold_text(found[1], float(found[2]), None, None)
    if alert.get("kind") == "news2_partial":
        return _OLD_POINTS.sub(lambda m: f"{_name(m[1])} {m[2]}", message)
    return message


def news2_heart_rate(bpm: float) -> int:
    """NEWS2 pulse band: <=40:3, 41-50:1, 51-90:0, 91-110:1, 111-130:2, >=131:3."""
    if bpm <= 40:
        return 3
    if bpm <= 50:
        return 1
    if bpm <= 90:
        return 0
    if bpm <= 110:
        return 1
    if bpm <= 130:
        return 2
    return 3


def news2_spo2(percent: float) -> int:
    """NEWS2 SpO2 scale 1 band: <=91:3, 92-93:2, 94-95:1, >=96:0."""
    if percent <= 91:
        return 3
    if percent <= 93:
        return 2
    if percent <= 95:
        return 1
    return 0


def news2_temperature(celsius: float) -> int:
    """NEWS2 temperature band: <=35.0:3, 35.1-36.0:1, 36.1-38.0:0, 38.1-39.0:1, >=39.1:2."""
    if celsius <= 35.0:
        return 3
    if celsius <= 36.0:
        return 1
    if celsius <= 38.0:
        return 0
    if celsius <= 39.0:
        return 1
    return 2


NEWS2_BANDS = {
    "heart_rate": news2_heart_rate,
    "spo2": news2_spo2,
    "temperature": news2_temperature,
}


@dataclass(frozen=True)
class PartialScore:
    """The partial score from the parameters we have, with each one's points."""

    total: int
    points: Mapping[str, int]

    @property
    def risk(self) -> str:
        """NEWS2's own wording, applied to the partial total (a lower bound of the real one)."""
        if self.total >= 7:
            return "high"
        if self.total >= 5:
            return "medium"
        if any(p == 3 for p in self.points.values()):
            return "low-medium"
        return "low"


def partial_news2(latest: Mapping[str, float]) -> PartialScore | None:
    """Score the latest plausible value of each NEWS2 metric present; None if none are."""
    points = {m: NEWS2_BANDS[m](v) for m, v in latest.items() if m in NEWS2_BANDS}
    if not points:
        return None
    return PartialScore(sum(points.values()), points)


# A security alert (the gateway's: a connection took over a live device's id) is an event,
# not a condition that clears: each one is told to the patient's circle.
SECURITY = "security"
EVENT_KINDS = frozenset({SECURITY})


@dataclass(frozen=True)
class Alert:
    """One alert raised (or cleared) for a device."""

    device: str
    kind: str  # "threshold", "news2_partial", "service" or "security"
    key: str  # what the alert is about: a metric, "news2_partial", "spool_full"
    level: str  # "warning", "critical" or "cleared"
    message: str
    ts_ms: int
    value: float | None = None
    patient: str | None = None

    def as_json(self) -> dict:
        return {
            "device": self.device,
            "patient": self.patient,
            "kind": self.kind,
            "key": self.key,
            "level": self.level,
            "value": self.value,
            "message": self.message,
            "ts_ms": self.ts_ms,
        }


class AlertTracker:
    """Turns plausible readings into alerts: raised once when a condition starts, cleared once."""

    # Once, so a fever does not alert every 30 s. Not thread-safe: the recorder
    # calls it from its single writer thread.

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self._active: dict[tuple[str, str], str] = {}
        self._latest: dict[str, dict[str, tuple[float, int]]] = {}
        self.changed = False  # a condition opened or closed since the last dump()

    def dump(self) -> dict:
        """The open conditions, and the latest score readings of their devices (JSON).

        Taken when a condition opens or closes; the other devices' readings are left out,
        as a fresh start would have them again within one reading of each metric.
        """
        self.changed = False
        devices = sorted({device for device, _ in self._active})
        return {
            "open": [[device, key, level] for (device, key), level in sorted(self._active.items())],
            "latest": {
                device: {m: [v, t] for m, (v, t) in self._latest[device].items()}
                for device in devices
                if self._latest.get(device)
            },
        }

    def load(self, state: Mapping) -> None:
        """Take the state ``dump()`` gave (of an earlier run, or another recorder's).

        Raises ValueError or TypeError for a malformed one, and then keeps its own.
        """
        active = {(str(d), str(k)): str(level) for d, k, level in state.get("open", [])}
        latest = {
            str(device): {str(m): (float(v), int(t)) for m, (v, t) in readings.items()}
            for device, readings in dict(state.get("latest", {})).items()
        }
        self._active, self._latest, self.changed = active, latest, False

    def observe(
        self, device: str, metric: str, value: float, ts_ms: int, patient: str | None = None
    ) -> list[Alert]:
        """Feed one plausible reading; return the alerts it raises or clears."""
        alerts = []
        breach = threshold_breach(self.settings, metric, value)
        low, high = self.settings.thresholds.get(metric, (None, None))
        limit = (low if breach == "low" else high) if breach else None
        message = threshold_text(metric, value, breach, limit)
        alerts += self._transition(
            device,
            "threshold",
            metric,
            "warning" if breach else None,
            message,
            ts_ms,
            value,
            patient,
        )
        if metric in NEWS2_BANDS:
            alerts += self._news2(device, metric, value, ts_ms, patient)
        return alerts

    def score(self, device: str) -> PartialScore | None:
        """The partial score from the device's latest readings within the window."""
        latest = self._latest.get(device, {})
        return partial_news2({m: v for m, (v, _) in latest.items()})

    def _news2(
        self, device: str, metric: str, value: float, ts_ms: int, patient: str | None
    ) -> list[Alert]:
        latest = self._latest.setdefault(device, {})
        latest[metric] = (value, ts_ms)
        window_ms = self.settings.news2_window * 1000
        for name in [m for m, (_, t) in latest.items() if ts_ms - t > window_ms]:
            del latest[name]  # too old to describe the patient now
        score = self.score(device)
        if score is None:
            return []
        level = None
        if score.total >= self.settings.news2_alert_score:
            level = "critical" if score.total >= 7 else "warning"
        message = f"{PARTIAL_NEWS2_LABEL}: score {score.total} ({score.risk}); " + ", ".join(
            f"{_name(m)} {p}" for m, p in sorted(score.points.items())
        )
        return self._transition(
            device, "news2_partial", "news2_partial", level, message, ts_ms, score.total, patient
        )

    def _transition(
        self,
        device: str,
        kind: str,
        key: str,
        level: str | None,
        message: str,
        ts_ms: int,
        value: float | None,
        patient: str | None,
    ) -> list[Alert]:
        previous = self._active.get((device, key))
        if level == previous:
            return []
        self.changed = True
        if level is None:
            del self._active[(device, key)]
            return [Alert(device, kind, key, "cleared", message, ts_ms, value, patient)]
        self._active[(device, key)] = level
        return [Alert(device, kind, key, level, message, ts_ms, value, patient)]
