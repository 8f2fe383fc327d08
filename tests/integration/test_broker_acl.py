"""The project's broker accounts and ACL, really run: each service can do exactly its job."""

import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.support.net import wait_port
from tests.support.secure_broker import Client, ProductionMosquitto, make_accounts, make_certs
from tests.support.seed_clients import SeedWatch
from tests.support.services import gateway as gateway_process

ROOT = Path(__file__).resolve().parents[2]

# account -> (topics it must be able to publish, topics it must not)
WRITES = {
    "homeassistant": (
        ["homeassistant/status"],
        [
            "smartcab/devices/cab/cmd",  # commands only where the deployer opts in
            "smartcab/devices/cab/status",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/latest/heart_rate",
            "smartcab/devices/wch/patient",
            "smartcab/manual/ann/vitals/spo2",
            "smartcab/services/gateway/status",
            "homeassistant/light/smartcab_cab/led_strip/config",
            "smartcab/reports/requests",
        ],
    ),
    "gateway": (
        [
            "smartcab/services/gateway/status",
            "smartcab/devices/wch/status",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/latest/heart_rate",
            "smartcab/devices/cab/inventory",
            "smartcab/devices/img/image",
            "smartcab/devices/cab/cmd/result",
            "smartcab/devices/wch/gateway",
            "smartcab/devices/cab/firmware",
            "smartcab/alerts/devices/wch",
            "homeassistant/light/smartcab_cab/led_strip/config",
        ],
        [
            "smartcab/services/recorder/status",
            "smartcab/services/gateway-b/status",  # another gateway's: only with its own line
            "smartcab/devices/cab/cmd",
            "smartcab/devices/wch/patient",
            "smartcab/alerts/services/recorder",
            "smartcab/reports/requests",
            "smartcab/manual/ann/vitals/spo2",
            "other/topic",
        ],
    ),
    "recorder": (
        [
            "smartcab/services/recorder/status",
            "smartcab/services/recorder/leader",
            "smartcab/services/recorder/open_alerts",
            "smartcab/alerts/devices/wch",
        ],
        [
            "smartcab/services/scheduler/leader",
            "smartcab/services/gateway/status",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/cmd",
            "smartcab/gateways/gw-a/cmd/wch",
            "smartcab/devices/wch/status",
        ],
    ),
    "scheduler": (
        [
            "smartcab/services/scheduler/status",
            "smartcab/devices/wch/cmd",
            "smartcab/gateways/gw-a/cmd/wch",  # to the holding gateway alone
            "smartcab/reports/jobs/weekly",
        ],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/status",
            "smartcab/reports/requests",
            "smartcab/services/web/status",
        ],
    ),
    "web": (
        [
            "smartcab/services/web/status",
            "smartcab/devices/cab/cmd",
            "smartcab/devices/wch/patient",
            "smartcab/manual/ann/vitals/spo2",
            "smartcab/reports/requests",
        ],
        [
            # typed-in readings have their own topics: the web never speaks for a device
            "smartcab/devices/manual-ann/vitals/spo2",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/cab/inventory",
            "smartcab/devices/wch/status",
            "smartcab/devices/img/image",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/results/r1",
            "smartcab/services/gateway/status",
        ],
    ),
    "pillbox": (
        [
            "smartcab/services/pillbox/status",
            "smartcab/devices/cab/cmd",
            "smartcab/alerts/devices/cab",
            "smartcab/reminders/ann",
        ],
        [
            "smartcab/devices/cab/inventory",
            "smartcab/devices/cab/patient",
            "smartcab/reports/requests",
            "smartcab/services/web/status",
        ],
    ),
    "notifier": (
        [
            "smartcab/services/notifier/status",
            "smartcab/notifications/patients/ann/events",
            "smartcab/notifications/services/events",
        ],
        [
            "smartcab/alerts/devices/wch",
            "smartcab/devices/wch/cmd",
            "smartcab/devices/wch/patient",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/services/recorder/status",
        ],
    ),
    "reporter": (
        [
            "smartcab/services/reporter/status",
            "smartcab/reports/progress/r1",
            "smartcab/reports/results/r1",
            "smartcab/reports/doctors/D1/r1",
            "smartcab/reports/audit",
        ],
        ["smartcab/reports/requests", "smartcab/devices/wch/cmd", "smartcab/alerts/devices/x"],
    ),
}

# account -> (topics it must receive, topics it must not)
READS = {
    "homeassistant": (
        [
            "smartcab/devices/wch/status",
            "smartcab/services/gateway/status",
            "homeassistant/light/smartcab_cab/led_strip/config",
        ],
        [
            # no patient's data unless the deployer opts in, device by device
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/latest/heart_rate",
            "smartcab/devices/cab/inventory",
            "smartcab/devices/img/image",
            "smartcab/manual/ann/vitals/spo2",
            "smartcab/devices/wch/patient",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/results/r1",
            "smartcab/devices/wch/cmd",
            "smartcab/services/web/status",
        ],
    ),
    "gateway": (
        [
            "smartcab/devices/wch/cmd",
            "smartcab/gateways/gw-a/cmd/wch",
            "smartcab/devices/wch/status",
            "smartcab/devices/wch/patient",
            "smartcab/devices/wch/gateway",
            "smartcab/devices/cab/firmware",
            "smartcab/services/gateway-b/status",
        ],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/requests",
        ],
    ),
    "recorder": (
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/cab/inventory",
            "smartcab/devices/wch/status",
            "smartcab/devices/wch/patient",
            "smartcab/manual/ann/vitals/spo2",
            "smartcab/services/gateway/status",
            "smartcab/services/recorder/leader",
            "smartcab/services/recorder/open_alerts",
        ],
        [
            "smartcab/services/scheduler/open_alerts",
            "smartcab/devices/img/image",
            "smartcab/devices/wch/cmd",
            "smartcab/gateways/gw-a/cmd/wch",
            "smartcab/reports/requests",
        ],
    ),
    "scheduler": (
        [
            "smartcab/services/scheduler/status",
            "smartcab/devices/wch/status",
            "smartcab/services/gateway/status",
            "smartcab/services/gateway-b/status",
            "smartcab/devices/wch/gateway",
            "smartcab/devices/wch/vitals/heart_rate",
        ],
        [
            "smartcab/devices/cab/inventory",
            "smartcab/devices/wch/patient",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/requests",
        ],
    ),
    "web": (
        [
            "smartcab/devices/img/image",
            "smartcab/devices/cab/inventory",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/results/r1",
            "smartcab/services/gateway/status",
            "smartcab/notifications/patients/ann/events",
            "smartcab/manual/ann/vitals/spo2",
        ],
        ["other/secret", "smartcab/services/recorder/open_alerts"],
    ),
    "pillbox": (
        [
            "smartcab/devices/cab/inventory",
            "smartcab/services/pillbox/status",
            "smartcab/devices/cab/firmware",
            "smartcab/devices/cab/status",
        ],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/alerts/devices/cab",
            "smartcab/devices/cab/cmd",
            "smartcab/reports/requests",
        ],
    ),
    "notifier": (
        [
            "smartcab/alerts/devices/wch",
            "smartcab/alerts/services/recorder",
            "smartcab/devices/wch/patient",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/services/web/status",  # a service offline is told to the admins
            "smartcab/reminders/ann",
        ],
        [
            "smartcab/devices/wch/cmd",
            "smartcab/devices/img/image",
            "smartcab/devices/cab/inventory",
            "smartcab/reports/requests",
            "smartcab/services/recorder/open_alerts",  # health data: the recorder's alone
        ],
    ),
    "reporter": (
        [
            "smartcab/reports/requests",
            "smartcab/reports/jobs/weekly",
            "smartcab/services/reporter/status",
        ],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/alerts/devices/wch",
            "smartcab/devices/wch/patient",
        ],
    ),
}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """CA and server certificate from scripts/make-certs.sh (RSA keys take a while: made once)."""
    return make_certs(tmp_path_factory.mktemp("certs"))


def start_secured(tmp_path, certificates, acl_text: str):
    """Mosquitto with the production mosquitto.conf, ``acl_text`` and TLS certificates.

    Accounts come from scripts/broker-accounts.sh, certificates from scripts/make-certs.sh.
    The accounts' checks connect over the TLS listener, as clients outside the compose
    network do; the services use the plain listener inside it.
    """
    secrets_dir = tmp_path / "secrets"
    shutil.copytree(certificates, secrets_dir)
    secrets = make_accounts(secrets_dir)
    subprocess.run(
        ["mosquitto_passwd", "-b", str(secrets_dir / "passwords"), "observer", "observer-pw"],
        check=True,
    )
    acl = tmp_path / "acl"
    # a test-only observer that may see and say everything, to watch the others
    acl.write_text(acl_text + "\nuser observer\ntopic readwrite #\n")
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = ProductionMosquitto(workdir, secrets_dir, acl)
    broker.start()
    wait_port(broker.tls_port)
    secrets["observer"] = "observer-pw"
    broker.ca = secrets_dir / "ca.crt"
    return broker, secrets


@pytest.fixture
def secured(tmp_path, certificates):
    """The broker with the project's ACL as it is shipped."""
    broker, secrets = start_secured(
        tmp_path, certificates, (ROOT / "mosquitto" / "acl").read_text()
    )
    yield broker, secrets
    broker.kill()


def tls_client(broker, account: str | None, password: str | None) -> Client:
    """A client on the TLS listener that trusts the CA made by scripts/make-certs.sh."""
    return Client(broker.tls_port, account, password, ca=broker.ca)


@pytest.mark.parametrize("listener", ["plain", "tls"])
def test_anonymous_and_wrong_passwords_are_refused(secured, listener):
    broker, secrets = secured

    def connect(account, password):
        if listener == "tls":
            return tls_client(broker, account, password)
        return Client(broker.port, account, password)

    anonymous = connect(None, None)
    wrong = connect("web", secrets["gateway"])
    right = connect("web", secrets["web"])
    try:
        assert anonymous.result is not None and anonymous.result.is_failure
        assert wrong.result is not None and wrong.result.is_failure
        assert right.result is not None and not right.result.is_failure
    finally:
        for client in (anonymous, wrong, right):
            client.close()


def test_the_tls_listener_needs_the_projects_ca(secured):
    broker, _ = secured
    # the system's trust store does not know the CA made by scripts/make-certs.sh ...
    with (
        socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    # ... while a client given that CA gets a verified session for the server's name
    trusting = ssl.create_default_context(cafile=str(broker.ca))
    trusting.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    with (
        socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5) as raw,
        trusting.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    # and plain MQTT on the TLS port gets no CONNACK
    with socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5) as sock:
        sock.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
        try:
            answer = sock.recv(4)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert answer == b""


@pytest.mark.parametrize("account", sorted(WRITES))
def test_each_account_publishes_exactly_its_topics(secured, account):
    broker, secrets = secured
    observer = tls_client(broker, "observer", secrets["observer"])
    observer.subscribe_all()
    client = tls_client(broker, account, secrets[account])
    allowed, forbidden = WRITES[account]
    try:
        for topic in forbidden + allowed:  # one client's messages arrive in order
            client.publish(topic)
        for topic in allowed:
            observer.wait_for(topic)
        leaked = [t for t in forbidden if t in observer.received]
        assert leaked == [], f"{account} could publish to {leaked}"
    finally:
        client.close()
        observer.close()


@pytest.mark.parametrize("account", sorted(READS))
def test_each_account_receives_exactly_its_topics_even_subscribed_to_everything(secured, account):
    broker, secrets = secured
    client = tls_client(broker, account, secrets[account])
    client.subscribe_all()
    observer = tls_client(broker, "observer", secrets["observer"])
    allowed, forbidden = READS[account]
    try:
        for topic in forbidden + allowed:
            observer.publish(topic)
        for topic in allowed:
            client.wait_for(topic)
        leaked = [t for t in forbidden if t in client.received]
        assert leaked == [], f"{account} could read {leaked}"
    finally:
        client.close()
        observer.close()


def test_the_gateway_works_under_its_own_account(secured, tmp_path):
    broker, secrets = secured
    observer = tls_client(broker, "observer", secrets["observer"])
    observer.subscribe_all()
    gw = gateway_process(
        tmp_path,
        {**broker.env(), "MQTT_USERNAME": "gateway", "MQTT_PASSWORD": secrets["gateway"]},
    ).start()
    try:
        watch = SeedWatch(gw.port)
        observer.publish("smartcab/devices/wch/cmd")  # payload "x": an unknown command
        observer.wait_for("smartcab/devices/wch/cmd/result")
        watch.sock.send(b"70.00,bpm")
        observer.wait_for("smartcab/devices/wch/vitals/heart_rate")
        observer.wait_for("smartcab/services/gateway/status")
        watch.close()
    finally:
        gw.kill()
        observer.close()


def test_home_assistant_reaches_a_device_only_where_the_deployer_opts_in(tmp_path, certificates):
    """The ACL's own opt-in examples, added under the homeassistant block as it says."""
    shipped = (ROOT / "mosquitto" / "acl").read_text()
    block = shipped[shipped.index("user homeassistant\n") :].split("\n\n", 1)[0]
    opt_in = re.findall(r"^#   (topic \S+ \S+)", shipped, re.MULTILINE)
    assert len(opt_in) == 4
    broker, secrets = start_secured(
        tmp_path, certificates, shipped.replace(block, block + "\n" + "\n".join(opt_in))
    )
    ha = tls_client(broker, "homeassistant", secrets["homeassistant"])
    ha.subscribe_all()
    observer = tls_client(broker, "observer", secrets["observer"])
    observer.subscribe_all()
    try:
        reach = [
            "smartcab/devices/wch-01/latest/heart_rate",
            "smartcab/devices/img-01/image",
            "smartcab/devices/cab-01/inventory",
        ]
        out_of_reach = [
            "smartcab/devices/wch-01/vitals/heart_rate",  # the stream; HA reads the latest
            "smartcab/devices/wch-02/latest/heart_rate",
            "smartcab/devices/img-02/image",
            "smartcab/devices/cab-02/inventory",
        ]
        for topic in out_of_reach + reach:
            observer.publish(topic)
        for topic in ("smartcab/devices/cab-02/cmd", "smartcab/devices/cab-01/cmd"):
            ha.publish(topic)
        for topic in reach:
            ha.wait_for(topic)
        observer.wait_for("smartcab/devices/cab-01/cmd")
        assert [t for t in out_of_reach if t in ha.received] == []
        assert "smartcab/devices/cab-02/cmd" not in observer.received
    finally:
        ha.close()
        observer.close()
        broker.kill()
