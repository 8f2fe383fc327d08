"""Fixtures for the notifier: its process on the test broker, the app database, a webhook."""

import pytest

from services.notifier import outbox
from tests.support.mqtt import Recorder
from tests.support.net import wait_until
from tests.support.notify import BASE_URL
from tests.support.services import ServiceProcess
from tests.support.webhook import Webhook


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def db(data_dir):
    """The app database the notifier uses, with the care-circle tables."""
    conn = outbox.connect(data_dir / "web.sqlite3")
    yield conn
    conn.close()


@pytest.fixture
def hook():
    with Webhook() as server:
        yield server


@pytest.fixture
def mqtt(broker):
    with Recorder(broker.host, broker.port, topics=("smartcab/notifications/#",)) as client:
        yield client


def subscribes(broker) -> int:
    text = broker.log.read_text(errors="replace") if broker.log.exists() else ""
    return text.count("Received SUBSCRIBE from smartcab-notifier")


@pytest.fixture
def make_notifier(tmp_path, broker, data_dir):
    """Start notifier processes (fast timings); each returns once it has subscribed."""
    env = {
        **broker.env(),
        "SMARTCAB_DATA_DIR": str(data_dir),
        "WEB_BASE_URL": BASE_URL,
        "NOTIFIER_TICK": "0.1",
        "NOTIFIER_RETRY_BASE": "0.3",
        "NOTIFIER_RETRY_MAX": "1",
        "NOTIFIER_DIGEST_WINDOW": "0",
        "NOTIFIER_SILENT_AFTER": "0",
    }
    started: list[ServiceProcess] = []

    def make(**settings: str) -> ServiceProcess:
        before = subscribes(broker)
        proc = ServiceProcess("notifier", tmp_path, {**env, **settings}).start()
        started.append(proc)
        wait_until(lambda: subscribes(broker) > before, 15, what="the notifier to subscribe")
        return proc

    yield make
    for proc in started:
        proc.kill()
