"""Fixtures that start real servers on free ports in temporary folders."""

import contextlib

import pytest

from tests.support import services
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Recorder


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
def mqtt_recorder(broker):
    """A subscriber to everything on the test broker."""
    with Recorder(broker.host, broker.port) as recorder:
        yield recorder


@pytest.fixture
def make_gateway(tmp_path, broker):
    """Start gateway processes against the test broker; all are stopped afterwards."""
    with _launcher(lambda **settings: services.gateway(tmp_path, broker.env(), **settings)) as make:
        yield make


@pytest.fixture
def gateway(make_gateway):
    """A gateway in trusted-LAN mode with short timeouts for tests."""
    return make_gateway(
        GATEWAY_TRUSTED_LAN="1", GATEWAY_TRANSFER_TIMEOUT="1", GATEWAY_HANDSHAKE_TIMEOUT="2"
    )


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
def app(tmp_path):
    """The dashboard's Flask app on a fresh SQLite database; live updates off, no InfluxDB."""
    from services.web import create_app, stop_background
    from services.web.settings import Settings
    from tests.support.net import free_port

    env = {
        "SMARTCAB_DATA_DIR": str(tmp_path / "web"),
        # Nothing listens here: pages must say history is unavailable, not crash.
        "INFLUX_URL": f"http://127.0.0.1:{free_port()}",
        "INFLUX_TIMEOUT": "2",
        "WEB_LIVE": "0",
    }
    application = create_app({"TESTING": True}, settings=Settings.from_env(env))
    yield application
    stop_background(application)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_reporter(tmp_path, broker, influxdb):
    """Start reporter processes on the test broker and InfluxDB, data in ``tmp_path/data``."""
    env = {**broker.env(), **influxdb.env(), "SMARTCAB_DATA_DIR": str(tmp_path / "data")}
    with _launcher(
        lambda **settings: services.ServiceProcess("reporter", tmp_path, {**env, **settings})
    ) as make:
        yield make
