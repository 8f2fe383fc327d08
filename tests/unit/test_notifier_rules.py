"""The notifier's pure rules: quiet hours, digests, escalation, backoff and what a message says."""

from datetime import UTC, datetime

import pytest

from services.common import reminders
from services.common.errors import ConfigError
from services.common.smtp import SmtpSettings
from services.notifier import channels, rules
from services.notifier.settings import Settings

ALERT = {
    "alert_id": "a1",
    "patient": "ann",
    "device": "wch-01",
    "kind": "threshold",
    "key": "heart_rate",
    "level": "warning",
    "value": 35.0,
    "message": "heart_rate 35 is below 40",
    "ts_ms": 1_764_630_000_000,
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_alert_ids_are_stable_and_differ_by_content():
    assert rules.alert_id(ALERT) == rules.alert_id(dict(ALERT))
    assert rules.alert_id(ALERT) != rules.alert_id({**ALERT, "ts_ms": ALERT["ts_ms"] + 1})
    assert rules.alert_id(ALERT) != rules.alert_id({**ALERT, "level": "cleared"})


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-12-01T23:30:00+00:00", "2026-12-02T07:00:00+00:00"),  # before midnight
        ("2026-12-02T03:00:00+00:00", "2026-12-02T07:00:00+00:00"),  # after midnight
        ("2026-12-02T07:00:00+00:00", None),  # the end is outside
        ("2026-12-01T21:59:00+00:00", None),
        ("2026-12-01T22:00:00+00:00", "2026-12-02T07:00:00+00:00"),
    ],
)
def test_quiet_hours_across_midnight(now, until):
    got = rules.quiet_until("22:00", "07:00", "UTC", at(now))
    assert got == (at(until) if until else None)


def test_quiet_hours_are_in_the_contacts_own_time_zone():
    # 13:30 UTC is 22:30 in Tokyo: quiet until 07:00 Tokyo time, 22:00 UTC
    got = rules.quiet_until("22:00", "07:00", "Asia/Tokyo", at("2026-12-01T13:30:00+00:00"))
    assert got == at("2026-12-01T22:00:00+00:00")
    assert (
        rules.quiet_until("22:00", "07:00", "Asia/Tokyo", at("2026-12-01T23:30:00+00:00")) is None
    )
    # a daytime window, and none at all
    assert rules.quiet_until("09:00", "17:00", "UTC", at("2026-12-01T12:00:00+00:00")) == at(
        "2026-12-01T17:00:00+00:00"
    )
    assert rules.quiet_until(None, None, "UTC", at("2026-12-01T03:00:00+00:00")) is None
    assert rules.quiet_until("08:00", "08:00", "UTC", at("2026-12-01T08:00:00+00:00")) is None


def test_quiet_hours_hold_a_warning_and_a_clear_but_not_a_critical_alert():
    end = at("2026-12-02T07:00:00+00:00")
    assert rules.held_until("warning", end) == end
    assert rules.held_until("cleared", end) == end
    assert rules.held_until("critical", end) is None
    assert rules.held_until("test", end) is None
    assert rules.held_until("warning", None) is None


def test_digest_sends_the_first_at_once_and_gathers_the_rest_until_the_window_ends():
    assert rules.digest_hold(None, 100.0, 60.0, urgent=False) is None
    assert rules.digest_hold(90.0, 100.0, 60.0, urgent=False) == 150.0
    assert rules.digest_hold(30.0, 100.0, 60.0, urgent=False) is None
    assert rules.digest_hold(90.0, 100.0, 60.0, urgent=True) is None  # critical never waits
    assert rules.digest_hold(90.0, 100.0, 0.0, urgent=False) is None  # digests off


def test_escalation_reaches_one_tier_per_timeout_and_repeats_each_reached_tier():
    # three tiers, next tier after 10 s, repeats every 30 s
    assert rules.due_rounds(0, 0, 3, 10, 30) == [(0, 0)]
    assert rules.due_rounds(0, 9.9, 3, 10, 30) == [(0, 0)]
    assert rules.due_rounds(0, 10, 3, 10, 30) == [(0, 0), (1, 0)]
    assert rules.due_rounds(0, 25, 3, 10, 30) == [(0, 0), (1, 0), (2, 0)]
    assert rules.due_rounds(0, 30, 3, 10, 30) == [(0, 1), (1, 0), (2, 0)]
    assert rules.due_rounds(0, 71, 3, 10, 30) == [(0, 2), (1, 2), (2, 1)]
    assert rules.due_rounds(0, 1000, 0, 10, 30) == []  # nobody wants it
    assert rules.due_rounds(0, 1000, 2, 0, 0) == [(0, 0)]  # escalation and repeats off


def test_backoff_doubles_up_to_its_cap():
    assert [rules.backoff(n, 5, 60) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_default_text_names_the_patient_and_the_kind_and_links_but_shows_no_value():
    title, body = rules.compose("Ann Lee", [ALERT], detailed=False, base_url="https://hp.example")
    assert "Ann Lee" in title and "low heart rate" in title
    assert "https://hp.example/alerts/a1" in body
    assert "35" not in title + body.replace("01 Dec", "")
    assert "wch-01" not in body


def test_detailed_text_adds_the_value_and_the_device_in_the_metric_tables_words():
    _, body = rules.compose("Ann Lee", [ALERT], detailed=True, base_url="https://hp.example")
    # an alert stored with the recorder's old key-and-number text reads like a new one
    assert "Heart rate 35 bpm is below 40 bpm" in body and "wch-01" in body
    assert "heart_rate" not in body


def test_several_alerts_become_one_digest_and_never_mix_patients():
    spo2 = {**ALERT, "alert_id": "a2", "key": "spo2", "message": "spo2 88 is below 92"}
    title, body = rules.compose("Ann Lee", [ALERT, spo2], detailed=False, base_url="http://x")
    assert title == "Health Plus - 2 alerts for Ann Lee"
    assert "low heart rate" in body and "low blood oxygen (SpO2)" in body
    assert "http://x/alerts/a1" in body and "http://x/alerts/a2" in body
    other = {**spo2, "patient": "bob"}
    with pytest.raises(ValueError, match="one patient"):
        rules.compose("Ann Lee", [ALERT, other], detailed=False, base_url="http://x")


def test_repeats_say_they_are_reminders_and_clears_say_so():
    reminder = {**ALERT, "round": 2, "level": "critical"}
    title, body = rules.compose("Ann", [reminder], detailed=False, base_url="http://x")
    assert "URGENT" in title and "Reminder, not acknowledged yet" in body
    cleared = {**ALERT, "level": "cleared", "message": "heart_rate back within thresholds (70)"}
    title, _ = rules.compose("Ann", [cleared], detailed=False, base_url="http://x")
    assert "Resolved" in title and "heart rate back within its limits" in title


def test_a_dose_reminder_names_the_medicine_only_for_a_contact_who_chose_that():
    body = reminders.parse(
        reminders.payload("ann", "cab01", 3, "Aspirin 75 mg", 1_764_576_000_000, 1_764_583_200_000),
        "ann",
    )
    item = {**body, "alert_id": "r1"}
    title, text = rules.compose("Ann Lee", [item], detailed=True, base_url="http://x")
    # detailed adds nothing to a reminder: the medicine is told only by choice
    assert "Aspirin" not in title + text and "cab01" not in text
    assert title == "Health Plus - Reminder: Ann Lee, a dose of medicine is due"
    assert "(01 Dec 08:00 UTC)" in text and "/alerts/" not in text
    assert text.endswith("Mark it taken on the dashboard: http://x/")
    title, text = rules.compose("Ann Lee", [item], detailed=False, base_url="http://x", named=True)
    assert "Aspirin 75 mg is due" in title and "Reminder: Aspirin 75 mg is due" in text
    assert item["expires_at"] == 1_764_583_200  # when the dose's window closes
    night = rules.quiet_until("22:00", "07:00", "UTC", at("2026-12-01T23:00:00+00:00"))
    assert rules.held_until("reminder", night) == night  # held; dropped if past its window


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{", "not JSON"),
        (b'{"patient": "bob"}', "names the patient"),
        (b'{"patient": "ann", "medication": ""}', "its name"),
        (b'{"patient": "ann", "medication": "A", "ts_ms": 5, "closes_ms": 5}', "closing after"),
        (b'{"patient": "ann", "medication": "A", "ts_ms": 5, "closes_ms": 9}', "key and device"),
    ],
)
def test_a_malformed_reminder_is_refused_with_its_reason(raw, why):
    with pytest.raises(reminders.BadReminder, match=why):
        reminders.parse(raw, "ann")


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"kind": "news2_partial", "key": "news2_partial", "level": "critical"}, "early-warning"),
        ({"kind": "service", "key": "spool_full", "level": "critical"}, "spool is full"),
        ({"kind": "silent", "key": "watch_silent", "level": "warning"}, "no readings"),
        ({"kind": "test", "key": "test", "level": "test"}, "test message"),
        ({"kind": "service", "key": "offline", "level": "critical", "device": "gw"}, "gw is off"),
        ({"kind": "service", "key": "offline", "level": "cleared", "device": "gw"}, "gw is back"),
        ({"kind": "security", "key": "signin_failures:ann", "level": "warning"}, "sign-ins"),
        (
            {"kind": "security", "key": "connection_replaced", "level": "warning"},
            "another connection",
        ),
    ],
)
def test_every_kind_of_alert_has_words(item, words):
    assert words in rules.describe(item)


def test_settings_come_from_the_environment_with_defaults():
    default = Settings.from_env({})
    assert default.client_id == "smartcab-notifier" and default.escalate_after("critical") == 300
    assert str(default.database) == "data/web.sqlite3" and not default.smtp.enabled
    tuned = Settings.from_env(
        {
            "MQTT_TOPIC_ROOT": "home",
            "NOTIFIER_ESCALATE_WARNING": "60",
            "SMTP_HOST": "mail.example",
            "WEB_BASE_URL": "https://hp.example/",
        }
    )
    assert tuned.client_id == "home-notifier" and tuned.escalate_after("warning") == 60
    assert tuned.smtp.host == "mail.example" and tuned.base_url == "https://hp.example"
    with pytest.raises(ConfigError, match="NOTIFIER_MAX_ATTEMPTS"):
        Settings.from_env({"NOTIFIER_MAX_ATTEMPTS": "0"})


def test_an_email_address_goes_through_the_deployments_smtp_and_a_url_as_it_is():
    smtp = SmtpSettings(host="mail.example", port=587, username="hp", password="p@ss/w")
    url = channels.target_url("carol@example.com", smtp)
    assert url.startswith("mailto://hp:p%40ss%2Fw@mail.example:587?smtp=mail.example")
    assert "mode=starttls" in url and "to=carol%40example.com" in url
    assert channels.target_url("ntfys://alerts-ann", smtp) == "ntfys://alerts-ann"
    with pytest.raises(channels.ChannelError, match="SMTP_HOST"):
        channels.target_url("carol@example.com", SmtpSettings())
