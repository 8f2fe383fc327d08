"""Live-stream caps: per session, per user (across sessions) and overall."""

import pytest

from services.web.live_listeners import PER_SESSION, PER_USER, Listeners, TooManyListeners


def test_one_user_cannot_hold_every_stream_across_many_sessions():
    listeners = Listeners(limit=100)
    opened = [listeners.listen("alice", f"session-{i}", user=1) for i in range(PER_USER + 5)]
    assert listeners.count() == PER_USER
    assert all(x.closed for x in opened[:5]) and not any(x.closed for x in opened[5:])
    listeners.listen("bob", "bob-session", user=2)
    assert listeners.count() == PER_USER + 1


def test_the_session_cap_and_the_overall_cap_still_hold():
    listeners = Listeners(limit=PER_SESSION + 1)
    for _ in range(PER_SESSION + 2):
        listeners.listen("alice", "one", user=1)
    assert listeners.count() == PER_SESSION
    listeners.listen("bob", "two", user=2)
    with pytest.raises(TooManyListeners):
        listeners.listen("carol", "three", user=3)
