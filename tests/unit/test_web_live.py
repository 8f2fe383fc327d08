"""A live-update listener that falls behind is told to resync."""

from services.web.live import QUEUE_SIZE, Listener


def test_a_listener_that_falls_behind_is_told_to_resync():
    listener = Listener("alice")
    for i in range(QUEUE_SIZE + 5):
        listener.offer("reading", {"n": i})
    assert listener.overflowed
    assert listener.events.qsize() == QUEUE_SIZE
