"""PostgreSQL going away under the services that hold a connection open: nothing is lost.

The notifier and the dose tracker keep one connection for their lifetime. When the
server dies, each step fails with a clear log line and leaves the broker's messages
unacknowledged; when it is back, they reconnect on their own and carry on.
"""

import pytest

from services.common import carecircle
from services.common.database import Database
from services.notifier import outbox
from tests.support.net import wait_until
from tests.support.notify import make_alert, publish_alert, statuses
from tests.support.postgres import APP_PASSWORD, PostgresServer


@pytest.fixture
def server():
    started = PostgresServer().start()
    yield started
    started.stop()


def test_an_alert_that_comes_while_the_database_is_down_is_sent_once_it_is_back(
    server, hook, mqtt, make_notifier
):
    url = server.url(server.new_database())
    with outbox.connect(Database.of(url)) as conn:  # the care-circle tables, as the web makes
        carecircle.add_contact(conn, "ann", "Carol", hook.url("/carol"))
    notifier = make_notifier(DATABASE_URL=url)
    first = publish_alert(mqtt, make_alert())
    hook.wait("/carol")
    server.kill()
    second = publish_alert(mqtt, make_alert("temperature", value=39.9, message="fever 39.9"))
    notifier.wait_log("outbox.unavailable", 15)
    assert len(hook.posts("/carol")) == 1, "nothing sent that is not stored"
    server.launch()
    wait_until(lambda: len(hook.posts("/carol")) == 2, 30, what="the second alert, sent")
    assert "high body temperature" in hook.posts("/carol")[1]["title"]
    with outbox.connect(Database.of(url)) as conn:
        assert statuses(conn, first) == ["sent"] and statuses(conn, second) == ["sent"]
    assert APP_PASSWORD not in notifier.log_text(), "the log names the database, not its password"
