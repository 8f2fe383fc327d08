"""The "service offline" rule on its own: grace, once, back, restarts of the notifier."""

from services.notifier.availability import ServiceWatch


def test_a_service_offline_past_the_grace_alerts_once_and_clears_once():
    watch = ServiceWatch(grace=30, own_name="notifier")
    assert watch.status("recorder", b"offline", 100.0) == []
    assert watch.check(120.0) == []  # a restart takes less than the grace
    [alert] = watch.check(131.0)
    assert (alert["device"], alert["kind"], alert["key"]) == ("recorder", "service", "offline")
    assert alert["level"] == "critical" and alert["patient"] is None
    assert alert["ts_ms"] == 100_000  # when it went, not when we noticed
    assert watch.check(500.0) == []
    [back] = watch.status("recorder", b"online", 600.0)
    assert back["level"] == "cleared"
    assert watch.status("recorder", b"online", 601.0) == []


def test_back_within_the_grace_tells_nobody():
    watch = ServiceWatch(grace=30, own_name="notifier")
    watch.status("gateway", b"offline", 0.0)
    assert watch.status("gateway", b"online", 10.0) == []
    assert watch.check(100.0) == []


def test_the_notifier_ignores_itself_and_remembers_what_it_announced():
    watch = ServiceWatch(grace=0, own_name="notifier", announced=["web"])
    watch.status("notifier", b"offline", 0.0)
    watch.status("web", b"offline", 0.0)  # the retained status after a notifier restart
    assert watch.check(1.0) == []
    assert [a["level"] for a in watch.status("web", b"online", 2.0)] == ["cleared"]
