"""The one failover policy both MQTT drivers follow: which node next, how long to wait."""

from services.common.broker_choice import RETRY_MAX, RETRY_MIN, BrokerChoice


def test_a_lost_node_is_left_for_the_next_at_once():
    choice = BrokerChoice(3)
    assert choice.after(accepted=True, spent=120.0) == 0.0
    assert choice.index == 1


def test_untried_nodes_come_after_the_shortest_wait_then_the_wait_doubles():
    choice = BrokerChoice(3)
    waits = [choice.after(accepted=False, spent=0.0) for _ in range(9)]
    # a round is three failures; each round's last wait is the growing one
    assert waits == [RETRY_MIN, RETRY_MIN, 1.0, RETRY_MIN, RETRY_MIN, 2.0] + [RETRY_MIN] * 2 + [4.0]
    assert [choice.after(False, 0.0) for _ in range(6)][2::3] == [8.0, RETRY_MAX]
    assert choice.index == 0  # fifteen moves round three nodes


def test_after_a_loss_the_lost_node_counts_as_tried():
    choice = BrokerChoice(3)
    choice.after(accepted=False, spent=0.0)
    choice.after(accepted=False, spent=0.0)
    choice.after(accepted=True, spent=0.0)  # node 3 accepted, then was lost
    assert choice.index == 0
    # nodes 1 and 2 are left to try: the second failure closes the round
    waits = [choice.after(accepted=False, spent=0.0) for _ in range(5)]
    assert waits == [RETRY_MIN, 1.0, RETRY_MIN, RETRY_MIN, 2.0]


def test_an_attempt_that_hung_has_waited_already():
    choice = BrokerChoice(2)
    assert choice.after(accepted=False, spent=1.5) == 0.0
    assert choice.after(accepted=False, spent=0.25) == RETRY_MIN - 0.25


def test_one_broker_waits_longer_after_each_failure_and_not_after_a_loss():
    choice = BrokerChoice(1)
    assert [choice.after(False, 0.0) for _ in range(3)] == [1.0, 2.0, 4.0]
    assert choice.after(True, 0.0) == 0.0
    assert choice.after(False, 0.0) == 1.0
    assert choice.index == 0
