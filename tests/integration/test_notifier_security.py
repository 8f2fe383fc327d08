"""A hijacked device id is visible: the real gateway's security alert reaches the circle."""

import time

from services.common import carecircle
from tests.support.mqtt import TopicLog
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
