"""The web's live state holders on their own (pure logic, no broker)."""

import json
import threading

import pytest

from services.web.live_cabinet import CommandRoundTrips, InventoryCache
from services.web.live_devices import Assignments, Availability
from services.web.live_listeners import PER_SESSION, Listeners, TooManyListeners
from services.web.live_reports import ReportTracker


def test_availability_needs_the_device_and_the_gateway_online():
    a = Availability()
    assert a.states(["wch"]) == {"wch": "unknown"}
    assert a.set_device("wch", "online")
    assert a.states(["wch"]) == {"wch": "offline"}, "the gateway has not said it is online"
    assert a.set_gateway("online")
    assert a.states(["wch"]) == {"wch": "online"}
    assert not a.set_device("wch", "rebooting")
    assert a.states(["wch"]) == {"wch": "online"}, "an unknown state changes nothing"


def test_availability_follows_the_gateway_holding_each_device():
    a = Availability()
    record = json.dumps({"gateway": "gw-b", "connection": "c1", "ts": "2026-01-01T00:00:00Z"})
    assert a.set_device("wch", "online") and a.set_holder("wch", record.encode())
    assert a.set_gateway("online")  # the gateway without an id: not the one holding it
    assert a.states(["wch"]) == {"wch": "offline"}
    assert a.set_service("gateway-gw-b", "online") and not a.set_service("web", "online")
    assert a.states(["wch"]) == {"wch": "online"}
    assert not a.set_holder("wch", b"not json")
    assert a.set_service("gateway-gw-b", "offline")
    assert a.states(["wch"]) == {"wch": "offline"}


def test_assignments_follow_the_retained_topic_and_an_empty_one_clears():
    a = Assignments()
    a.set("wch", "alice")
    a.set("img", "alice")
    a.set("cab", "bob")
    assert a.by_patient() == {"alice": ["wch", "img"], "bob": ["cab"]}
    a.set("wch", "")
    assert a.patient_of("wch") is None and a.patient_of("img") == "alice"


def test_a_sessions_fifth_stream_replaces_its_oldest_and_the_total_is_capped():
    streams = Listeners(limit=PER_SESSION + 1)
    first, *rest = [streams.listen("alice", "s1") for _ in range(PER_SESSION)]
    streams.listen("alice", "s1")
    assert first.closed and not any(x.closed for x in rest)
    streams.listen("bob", "s2")
    with pytest.raises(TooManyListeners):
        streams.listen("carol", "s3")


def test_events_reach_only_the_patients_streams():
    streams = Listeners(limit=10)
    alice, bob = streams.listen("alice"), streams.listen("bob")
    streams.fan_out("alice", "reading", {"v": 1})
    streams.fan_out(None, "reading", {"v": 2})
    assert alice.events.get_nowait() == ("reading", {"v": 1})
    assert bob.events.empty() and alice.events.empty()


def test_a_malformed_inventory_is_not_kept():
    cache = InventoryCache()
    assert cache.update("cab", b'{"items": {"Pepsi": "many"}}') is None
    assert cache.update("cab", b'{"items": {"Pepsi": 2}, "ts": "t"}') == {
        "device": "cab",
        "items": {"Pepsi": 2},
        "ts": "t",
    }
    assert cache.get("cab")["items"] == {"Pepsi": 2}


def test_a_command_answer_wakes_the_thread_waiting_for_that_command():
    trips = CommandRoundTrips()
    answer = json.dumps({"cmd": "lon", "ok": True}).encode()

    def send():
        # The answer arrives from another thread, as paho's would.
        threading.Thread(target=trips.answer, args=("cab", answer)).start()

    result = trips.send_and_wait("cab", "lon", send, timeout=5)
    assert result == {"device": "cab", "cmd": "lon", "ok": True, "error": None}
    assert trips.send_and_wait("cab", "lof", lambda: None, timeout=0.01) is None


def test_every_report_is_followed_to_done_the_freshest_kept():
    tracker = ReportTracker(limit=2)
    tracker.sent("r1", "alice")
    tracker.progress("r1", b'{"stage": "rendering"}')
    assert tracker.state("r1")["stage"] == "rendering"
    # one another web instance sent: followed too, its patient unknown here
    tracker.progress("other", b'{"stage": "rendering"}')
    assert tracker.state("other") == {"id": "other", "patient": None, "stage": "rendering"}
    tracker.result("r1", b'{"id": "r1", "ok": true}')
    tracker.progress("r1", b'{"stage": "late"}')
    assert tracker.state("r1") == {"id": "r1", "ok": True, "patient": "alice", "stage": "done"}
    tracker.progress("bad", b"not json")
    assert tracker.state("bad") is None
    tracker.sent("r2", "bob")
    tracker.sent("r3", "bob")
    assert tracker.state("r1") is None, "the oldest request is no longer followed"
