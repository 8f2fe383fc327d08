"""The SUBACK bookkeeping: all granted only when nothing waits and nothing was refused."""

from services.common.broker_choice import RETRY_MIN
from services.common.suback import Grants


def test_granted_once_every_suback_is_in_and_a_refused_filter_backs_off():
    grants = Grants()
    grants.connected()
    assert grants.wait(0)  # no subscriptions: nothing to wait for
    grants.sent(1, "a/#", 1)
    grants.sent(2, "b/+", 0)
    assert not grants.wait(0)
    assert grants.answered(1, refused=False) == ("a/#", 1, None)
    assert not grants.wait(0)
    assert grants.answered(2, refused=True) == ("b/+", 0, RETRY_MIN)
    assert not grants.wait(0)  # refused: not everything is granted
    grants.sent(3, "b/+", 0)
    assert grants.answered(3, refused=True) == ("b/+", 0, RETRY_MIN * 2)
    grants.sent(4, "b/+", 0)
    assert grants.answered(4, refused=False) == ("b/+", 0, None)
    assert grants.wait(0)
    assert grants.answered(99, refused=False) == ("", 0, None)  # not ours: ignored


def test_a_new_connection_forgets_the_lost_ones_subacks():
    grants = Grants()
    grants.connected()
    grants.sent(1, "a/#", 1)
    grants.lost()
    grants.connected()  # mid 1 will never be answered
    assert grants.wait(0)
