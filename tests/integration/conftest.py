"""Fixtures that start real servers on free ports in temporary folders."""

import contextlib
import dataclasses
from pathlib import Path

import pytest

from services.common.database import DATABASE_FILE, Database
from services.notifier import outbox
from tests.support import services
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.notify import BASE_URL
from tests.support.services import ServiceProcess
from tests.support.webhook import Webhook


@contextlib.contextmanager
def _launcher(build):
    """Yield ``make(**settings)``, which starts ``build(**settings)``; all are killed after."""
    started = []

    def make(**settings: str) -> services.ServiceProcess:
        proc = build(**settings).start()
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.kill()


@pytest.fixture
def broker(tmp_path):
    """A real Mosquitto, anonymous, on a free loopback port."""
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    server = Mosquitto(workdir)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def mqtt_log(broker):
    """A subscriber to everything on the test broker."""
    with TopicLog(broker.host, broker.port) as log:
        yield log


@pytest.fixture
def make_gateway(tmp_path, broker):
    """Start gateway processes against the test broker; all are stopped afterwards."""
    with _launcher(lambda **settings: services.gateway(tmp_path, broker.env(), **settings)) as make:
        yield make


@pytest.fixture
def gateway(make_gateway):
    """A gateway in trusted-LAN mode with short timeouts for tests."""
    return make_gateway(GATEWAY_TRANSFER_TIMEOUT="1", GATEWAY_HANDSHAKE_TIMEOUT="2")


@pytest.fixture
def influxdb(tmp_path):
    """A real InfluxDB 1.x (Debian's influxd), no auth, on free loopback ports."""
    from tests.support.influxdb import InfluxDB

    workdir = tmp_path / "influxdb"
    workdir.mkdir()
    server = InfluxDB(workdir).start()
    yield server
    server.kill()


@pytest.fixture
def make_recorder(tmp_path, broker, influxdb):
    """Start recorder processes against the test broker and InfluxDB; killed afterwards."""
    env = {
        **broker.env(),
        **influxdb.env(),
        "SMARTCAB_DATA_DIR": str(tmp_path / "data"),
        "RECORDER_RETRY_INTERVAL": "0.3",
    }
    with _launcher(
        lambda **settings: services.ServiceProcess("recorder", tmp_path, {**env, **settings})
    ) as make:
        yield make


@pytest.fixture
def make_scheduler(tmp_path, broker):
    """Start scheduler processes against the test broker; killed afterwards."""
    env = {**broker.env(), "SCHEDULER_BPM_INTERVAL": "1"}
    with _launcher(
        lambda **settings: services.ServiceProcess("scheduler", tmp_path, {**env, **settings})
    ) as make:
        yield make


@pytest.fixture
def make_reporter(tmp_path, broker, influxdb):
    """Start reporter processes on the test broker and InfluxDB, data in ``tmp_path/data``."""
    env = {**broker.env(), **influxdb.env(), "SMARTCAB_DATA_DIR": str(tmp_path / "data")}
    with _launcher(
        lambda **settings: services.ServiceProcess("reporter", tmp_path, {**env, **settings})
    ) as make:
        yield make


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Mosquitto, InfluxDB, a recorder, a gateway and a subscriber to everything, for one module.

    For the browser journeys, whose tests are the steps of one visit to one running site.
    """
    from tests.support.influxdb import InfluxDB

    root = tmp_path_factory.mktemp("stack")
    (root / "mosquitto").mkdir()
    (root / "influxdb").mkdir()
    broker = Mosquitto(root / "mosquitto")
    started = []
    try:
        broker.start()
        influxdb = InfluxDB(root / "influxdb").start()
        started.append(influxdb)
        env = {**broker.env(), **influxdb.env()}
        recorder_env = {
            **env,
            "SMARTCAB_DATA_DIR": str(root / "data"),
            "RECORDER_RETRY_INTERVAL": "0.3",
        }
        started.append(services.ServiceProcess("recorder", root, recorder_env).start())
        gateway = services.gateway(
            root, broker.env(), GATEWAY_TRANSFER_TIMEOUT="1", GATEWAY_HANDSHAKE_TIMEOUT="2"
        ).start()
        started.append(gateway)
        with TopicLog(broker.host, broker.port) as mqtt_log:
            yield Stack(root, broker, influxdb, gateway, mqtt_log, env)
    finally:
        for server in reversed(started):
            server.kill()
        broker.kill()


@pytest.fixture(scope="module")
def chrome():
    """A headless Debian Chromium shared by a module's browser tests."""
    from tests.support import browser

    with browser.chromium() as chromium:
        yield chromium


@dataclasses.dataclass(frozen=True)
class Stack:
    """What ``stack`` started: ``env`` is what a service needs to reach the broker and InfluxDB."""

    root: Path
    broker: Mosquitto
    influxdb: object
    gateway: services.ServiceProcess
    mqtt_log: TopicLog
    env: dict[str, str]


# --- the notifier: its process on the test broker, the app database, a webhook ---


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def app_database(data_dir, database_url):
    """Where the services of a test keep their tables: SQLite in data_dir, or PostgreSQL."""
    return Database.choose(database_url, data_dir / DATABASE_FILE)


@pytest.fixture
def db(app_database):
    """The app database the notifier uses, with the care-circle tables."""
    conn = outbox.connect(app_database)
    yield conn
    conn.close()


@pytest.fixture
def hook():
    with Webhook() as server:
        yield server


@pytest.fixture
def mqtt(broker):
    with TopicLog(broker.host, broker.port, topics=("smartcab/notifications/#",)) as client:
        yield client


def subscribes(broker) -> int:
    text = broker.log.read_text(errors="replace") if broker.log.exists() else ""
    return text.count("Received SUBSCRIBE from smartcab-notifier")


@pytest.fixture
def make_notifier(tmp_path, broker, data_dir, database_url):
    """Start notifier processes (fast timings); each returns once it has subscribed."""
    env = {
        **broker.env(),
        "SMARTCAB_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "WEB_BASE_URL": BASE_URL,
        "NOTIFIER_TICK": "0.1",
        "NOTIFIER_RETRY_BASE": "0.3",
        "NOTIFIER_RETRY_MAX": "1",
        "NOTIFIER_DIGEST_WINDOW": "0",
        "NOTIFIER_SILENT_AFTER": "0",
        # the tests' webhooks listen on loopback, which channels may not reach otherwise
        "NOTIFIER_ALLOWED_HOSTS": "127.0.0.1",
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


@pytest.fixture
def nats_cluster(tmp_path):
    """A real three-node NATS JetStream cluster with MQTT on every node (Debian's nats-server)."""
    from tests.support.nats import NatsCluster

    cluster = NatsCluster(tmp_path / "nats")
    try:
        yield cluster.start(60)  # the first MQTT client makes the streams: seconds, under load more
    finally:
        cluster.kill()
