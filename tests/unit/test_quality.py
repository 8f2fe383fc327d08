"""Pure logic: data-quality flags, alert thresholds and the partial NEWS2 bands."""

import pytest

from services.common import alerts
from services.common.alerts import AlertSettings, AlertTracker, partial_news2
from services.common.errors import ConfigError
from services.common.quality import flag_reason


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("heart_rate", 0),
        ("heart_rate", 8),  # seen in real prototype data
        ("heart_rate", 24.9),
        ("heart_rate", 250.1),
        ("temperature", 29.9),
        ("temperature", 45.1),
        ("spo2", 100.5),
        ("spo2", 49),
        ("heart_rate", float("nan")),
        ("glucose", 5.0),
    ],
)
def test_implausible_readings_are_flagged_with_a_reason(metric, value):
    reason = flag_reason(metric, value)
    assert reason
    assert isinstance(reason, str)


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ("heart_rate", 25),
        ("heart_rate", 152),  # a spike, but a possible one: kept and unflagged
        ("heart_rate", 250),
        ("temperature", 30),
        ("temperature", 36.6),
        ("temperature", 45),
        ("spo2", 50),
        ("spo2", 100),
        ("bp_systolic", 120),
        ("bp_diastolic", 80),
    ],
)
def test_plausible_readings_are_not_flagged(metric, value):
    assert flag_reason(metric, value) is None


def test_reasons_say_what_was_wrong():
    assert flag_reason("heart_rate", 8) == "8 bpm is below the plausible 25 bpm"
    assert flag_reason("temperature", 46) == "46 °C is above the plausible 45 °C"
    assert "no pulse" in flag_reason("heart_rate", 0)


@pytest.mark.parametrize(
    ("bpm", "points"),
    [
        (30, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
    ],
)
def test_news2_heart_rate_bands(bpm, points):
    assert alerts.news2_heart_rate(bpm) == points


@pytest.mark.parametrize(
    ("spo2", "points"), [(85, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_news2_spo2_scale_1_bands(spo2, points):
    assert alerts.news2_spo2(spo2) == points


@pytest.mark.parametrize(
    ("celsius", "points"),
    [
        (34.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
    ],
)
def test_news2_temperature_bands(celsius, points):
    assert alerts.news2_temperature(celsius) == points


def test_partial_score_adds_the_three_and_says_it_is_partial():
    score = partial_news2({"heart_rate": 120, "spo2": 93, "temperature": 39.5})
    assert score.total == 2 + 2 + 2
    assert score.risk == "medium"
    assert partial_news2({"heart_rate": 35}).risk == "low-medium"  # a single 3
    assert partial_news2({"heart_rate": 135, "spo2": 91, "temperature": 40}).risk == "high"
    assert partial_news2({"bp_systolic": 120}) is None
    assert "partial" in alerts.PARTIAL_NEWS2_LABEL
    assert "not clinically validated" in alerts.PARTIAL_NEWS2_LABEL


def test_thresholds_have_defaults_and_env_overrides():
    default = AlertSettings.from_env({})
    assert default.thresholds["heart_rate"] == (40.0, 130.0)
    assert default.thresholds["spo2"] == (92.0, None)
    custom = AlertSettings.from_env(
        {"ALERT_HEART_RATE_HIGH": "110", "ALERT_SPO2_LOW": "off", "ALERT_SPO2_HIGH": "99.5"}
    )
    assert custom.thresholds["heart_rate"] == (40.0, 110.0)
    assert custom.thresholds["spo2"] == (None, 99.5)
    assert alerts.threshold_breach(custom, "heart_rate", 111) == "high"
    assert alerts.threshold_breach(custom, "spo2", 80) is None
    with pytest.raises(ConfigError):
        AlertSettings.from_env({"ALERT_TEMPERATURE_HIGH": "hot"})


def test_tracker_raises_once_and_clears_once():
    tracker = AlertTracker(AlertSettings())
    raised = tracker.observe("wch-01", "temperature", 39.5, 1000, "p-1")
    assert [(a.kind, a.key, a.level) for a in raised] == [("threshold", "temperature", "warning")]
    assert raised[0].patient == "p-1" and raised[0].value == 39.5
    assert tracker.observe("wch-01", "temperature", 39.6, 2000) == []  # still a fever: quiet
    cleared = tracker.observe("wch-01", "temperature", 37.0, 3000)
    assert [(a.key, a.level) for a in cleared] == [("temperature", "cleared")]
    assert tracker.observe("wch-02", "temperature", 37.0, 3000) == []  # never raised


def test_tracker_scores_partial_news2_from_recent_readings_only():
    tracker = AlertTracker(AlertSettings(news2_window=60))
    assert tracker.observe("wch-01", "spo2", 91, 0) != []  # below the SpO2 threshold
    out = tracker.observe("wch-01", "heart_rate", 125, 1_000)  # 3 + 2 = 5: medium
    news = [a for a in out if a.kind == "news2_partial"]
    assert [(a.level, a.value) for a in news] == [("warning", 5)]
    assert "not clinically validated" in news[0].message
    # 70 s later the SpO2 reading is too old to count: the score falls and the alert clears.
    out = tracker.observe("wch-01", "heart_rate", 126, 71_000)
    news = [a for a in out if a.kind == "news2_partial"]
    assert [(a.level, a.value) for a in news] == [("cleared", 2)]
    assert tracker.score("wch-01").points == {"heart_rate": 2}


def test_tracker_high_partial_score_is_critical():
    tracker = AlertTracker(AlertSettings())
    tracker.observe("wch-01", "spo2", 90, 0)
    tracker.observe("wch-01", "temperature", 40, 0)
    out = tracker.observe("wch-01", "heart_rate", 135, 0)
    assert [a.level for a in out if a.kind == "news2_partial"] == ["critical"]
