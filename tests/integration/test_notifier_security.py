"""A hijacked device id is visible: the real gateway's security alert reaches the circle."""

import time

from services.common import carecircle
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.notify import make_alert, publish_alert, statuses
from tests.support.seed_clients import SeedWatch, closed_by_peer


def test_each_replaced_connection_reaches_the_patients_circle(
    broker, db, hook, make_gateway, make_notifier
):
    carecircle.add_contact(db, "ann", "Family phone", hook.url("/ann"), detailed=True)
    carecircle.add_contact(db, "bob", "Bob's son", hook.url("/bob"))
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#",)) as mqtt:
        mqtt.publish("smartcab/devices/wch-01/patient", "ann", retain=True)
        gateway = make_gateway()
        gateway.wait_log("event=gateway.listening")
        make_notifier()
        watch = SeedWatch(gateway.port, b"wch-01")
        stranger = SeedWatch(gateway.port, b"wch-01", source="127.0.0.2")
        assert closed_by_peer(watch.sock)
        [post] = hook.wait("/ann")
        # a second takeover is a new event, told again (not "the same episode")
        again = SeedWatch(gateway.port, b"wch-01", source="127.0.0.3")
        assert closed_by_peer(stranger.sock)
        posts = hook.wait("/ann", count=2)
        mqtt.wait("smartcab/alerts/devices/wch-01", count=2)
        time.sleep(1)  # anything more would have come by now
        again.close()
    assert "URGENT" in post["title"] and "ann" in post["title"]
    assert "another connection took over the device's id" in post["title"]
    assert "127.0.0.2" in post["message"] and "wch-01" in post["message"]
    assert "127.0.0.3" in posts[1]["message"]
    assert len(hook.posts("/ann")) == 2
    assert hook.posts("/bob") == []


def test_a_channel_may_not_reach_the_deployments_own_network(db, hook, mqtt, make_notifier):
    """A channel typed in the dashboard cannot make the notifier a way into the LAN."""
    port = hook.port
    inside = [
        f"json://127.0.0.1:{port}/loopback",
        f"json://2130706433:{port}/as-a-number",  # 127.0.0.1 written as one integer
        f"json://[::1]:{port}/ipv6",
        f"json://169.254.169.254:{port}/metadata",
        f"json://10.0.0.1:{port}/lan",
    ]
    for n, channel in enumerate(inside):
        carecircle.add_contact(db, "ann", f"inside {n}", channel)
    carecircle.add_contact(db, "ann", "two at once", f"json://1.1.1.1/a, json://127.0.0.1:{port}/b")
    # the deployment lists one name of its own network: that one is reached, by that name
    carecircle.add_contact(db, "bob", "LAN webhook", f"json://localhost:{port}/allowed")
    make_notifier(NOTIFIER_ALLOWED_HOSTS="localhost", NOTIFIER_MAX_ATTEMPTS="1")
    refused = publish_alert(mqtt, make_alert("heart_rate"))
    allowed = publish_alert(mqtt, make_alert("spo2", patient="bob", value=88.0))
    assert hook.wait("/allowed")[0]["title"]
    wait_until(
        lambda: statuses(db, refused) == ["given_up"] * (len(inside) + 1),
        15,
        what="every inside channel given up",
    )
    errors = sorted(d["last_error"] for d in carecircle.deliveries(db, refused))
    assert sum("is not a public internet address" in e for e in errors) == len(inside)
    assert "a channel is one e-mail address or one Apprise URL" in errors
    # the allowed name does not open its address to channels that name the address
    assert len(hook.posts()) == 1 and hook.refused() == []
    wait_until(lambda: statuses(db, allowed) == ["sent"], 10, what="the allowed one sent")
