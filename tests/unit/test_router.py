"""The topic router: MQTT filter matching and dispatch to handlers (pure logic)."""

import threading

import pytest

from services.common.router import BadFilter, Router, filter_levels, match


def matches(topic_filter: str, topic: str):
    return match(filter_levels(topic_filter), topic)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "captured"),
    [
        ("smartcab/services/gateway/status", "smartcab/services/gateway/status", ()),
        ("smartcab/devices/+/status", "smartcab/devices/wch-01/status", ("wch-01",)),
        ("smartcab/devices/+/vitals/+", "smartcab/devices/wch/vitals/spo2", ("wch", "spo2")),
        ("smartcab/devices/#", "smartcab/devices/cab/cmd/result", ("cab/cmd/result",)),
        ("smartcab/devices/#", "smartcab/devices", ("",)),  # '#' includes the parent level
        ("#", "smartcab/alerts/devices/wch", ("smartcab/alerts/devices/wch",)),
        ("+/+", "a/b", ("a", "b")),
        ("$share/recorder/smartcab/devices/+/status", "smartcab/devices/x/status", ("x",)),
    ],
)
def test_a_matching_topic_hands_over_its_wildcard_levels(topic_filter, topic, captured):
    assert matches(topic_filter, topic) == captured


@pytest.mark.parametrize(
    ("topic_filter", "topic"),
    [
        ("smartcab/devices/+/status", "smartcab/devices/wch/cmd"),
        ("smartcab/devices/+/status", "smartcab/devices/wch/status/extra"),
        ("smartcab/devices/+/status", "smartcab/devices/status"),
        ("smartcab/devices/+/cmd", "smartcab/devices/wch/cmd/result"),
        ("smartcab/devices/+/status", "other/devices/wch/status"),
        ("smartcab/devices/+/status", "smartcab/devices//status"),  # no empty device id
        ("smartcab/#", "smartcab/devices//status"),
        ("smartcab/devices/wch", "smartcab/devices/wch/"),
        ("#", "$SYS/broker/uptime"),  # the broker's own topics need an explicit filter
        ("+/broker/uptime", "$SYS/broker/uptime"),
        ("Smartcab/devices/+/status", "smartcab/devices/wch/status"),  # case counts
    ],
)
def test_a_topic_outside_the_filter_does_not_match(topic_filter, topic):
    assert matches(topic_filter, topic) is None


def test_the_brokers_own_topics_match_an_explicit_filter():
    assert matches("$SYS/broker/+", "$SYS/broker/uptime") == ("uptime",)


@pytest.mark.parametrize(
    "topic_filter",
    ["", "a/#/b", "a/b#", "a/+b/c", "$share/recorder", "$share//a/b", "$share/g/"],
)
def test_a_filter_mqtt_would_refuse_is_refused_when_added(topic_filter):
    with pytest.raises(BadFilter):
        Router().add(topic_filter, print)


def test_a_bad_qos_is_refused():
    with pytest.raises(BadFilter):
        Router().add("a/b", print, qos=3)


def test_dispatch_calls_the_first_matching_route_with_levels_then_arguments():
    calls = []
    router = Router()
    router.add("smartcab/devices/+/cmd/result", lambda d, m: calls.append(("result", d, m)))
    router.add("smartcab/devices/+/#", lambda d, rest, m: calls.append(("any", d, rest, m)))
    router.add("smartcab/devices/+/cmd/+", lambda d, c, m: calls.append(("never", d, c, m)))

    assert router.dispatch("smartcab/devices/cab/cmd/result", "msg1")
    assert router.dispatch("smartcab/devices/cab/cmd/other", "msg2")
    assert not router.dispatch("smartcab/services/web/status", "msg3")
    assert calls == [("result", "cab", "msg1"), ("any", "cab", "cmd/other", "msg2")]


def test_route_returns_the_bound_handler_and_its_result():
    router = Router()
    router.add("a/+/c", lambda level, x: f"{level}:{x}")
    handler = router.route("a/b/c")
    assert handler is not None and handler(1) == "b:1"
    assert router.route("a/b") is None


def test_subscriptions_list_every_filter_as_given_with_its_qos():
    router = Router()
    router.add("$share/recorder/smartcab/devices/+/vitals/+", print)
    router.add("smartcab/devices/+/patient", print, qos=0)
    assert router.subscriptions() == [
        ("$share/recorder/smartcab/devices/+/vitals/+", 1),
        ("smartcab/devices/+/patient", 0),
    ]


def test_routes_added_while_another_thread_dispatches_are_all_kept():
    router = Router()
    seen = []
    router.add("t/first", lambda: seen.append("first"))
    stop = threading.Event()

    def dispatch_forever():
        while not stop.is_set():
            router.dispatch("t/first")

    worker = threading.Thread(target=dispatch_forever)
    worker.start()
    try:
        for i in range(200):
            router.add(f"t/{i}", print)
    finally:
        stop.set()
        worker.join()
    assert len(router.subscriptions()) == 201
    assert seen and set(seen) == {"first"}
