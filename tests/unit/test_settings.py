"""Settings come from the environment; an empty value means the default, for every type."""

import pytest

from services.common.errors import ConfigError
from services.common.settings import env_bool
from services.gateway.settings import Settings as GatewaySettings
from services.web.settings import Settings as WebSettings


@pytest.mark.parametrize("raw", ["", "  "])
def test_an_empty_boolean_means_its_default(raw):
    assert env_bool({"X": raw}, "X", True) is True
    assert env_bool({"X": raw}, "X", False) is False


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("Yes", True), ("off", False)])
def test_booleans_are_read_in_the_usual_spellings(raw, value):
    assert env_bool({"X": raw}, "X", not value) is value


def test_junk_in_a_boolean_is_refused_with_its_name():
    with pytest.raises(ConfigError, match="WEB_LIVE must be true or false"):
        WebSettings.from_env({"WEB_LIVE": "sometimes"})


def test_an_env_file_with_empty_values_keeps_the_services_defaults():
    # .env.example lists every setting with an empty value: loading it as it is
    # must not turn on-by-default features off.
    settings = WebSettings.from_env({"WEB_LIVE": "", "SMTP_STARTTLS": ""})
    assert settings.live is True and settings.smtp.starttls is True


def test_a_gateway_id_is_one_plain_topic_level():
    assert GatewaySettings.from_env({}).gateway_id is None, "one gateway needs none"
    assert GatewaySettings.from_env({"GATEWAY_ID": "gw-a_2"}).gateway_id == "gw-a_2"
    for bad in ("gw/a", "gw+", "#", "g" * 33, "gw a"):
        with pytest.raises(ConfigError, match="GATEWAY_ID must be"):
            GatewaySettings.from_env({"GATEWAY_ID": bad})


def test_the_tls_listener_needs_its_port_certificate_and_key_together():
    files = {"GATEWAY_TLS_CERT": "server.crt", "GATEWAY_TLS_KEY": "server.key"}
    settings = GatewaySettings.from_env({"GATEWAY_TLS_PORT": "5051", **files})
    assert (settings.tls_port, settings.tls_key) == (5051, "server.key")
    assert GatewaySettings.from_env({}).tls_port is None
    with pytest.raises(ConfigError, match="GATEWAY_TLS_PORT needs GATEWAY_TLS_CERT"):
        GatewaySettings.from_env({"GATEWAY_TLS_PORT": "5051", "GATEWAY_TLS_CERT": "server.crt"})
    assert GatewaySettings.from_env(files).tls_port is None, "files alone start no listener"
    with pytest.raises(ConfigError, match="GATEWAY_TLS_PORT must be a whole number"):
        GatewaySettings.from_env({"GATEWAY_TLS_PORT": "tls", **files})


def test_one_broker_by_default_from_mqtt_host_and_port():
    from services.common.settings import MqttSettings

    assert MqttSettings.from_env({}).brokers == (("localhost", 1883),)
    settings = MqttSettings.from_env({"MQTT_HOST": "broker", "MQTT_PORT": "1884"})
    assert settings.brokers == (("broker", 1884),)


def test_mqtt_hosts_lists_the_nodes_of_a_cluster_in_order():
    from services.common.settings import MqttSettings

    env = {"MQTT_HOSTS": " n1:1883, n2:1884,[::1]:1885,n4 ", "MQTT_PORT": "2000"}
    assert MqttSettings.from_env(env).brokers == (
        ("n1", 1883),
        ("n2", 1884),
        ("::1", 1885),
        ("n4", 2000),  # a bare host takes MQTT_PORT
    )


@pytest.mark.parametrize("raw", ["n1:", "n1:port", ":1883", "n1:70000", " , ", "[::1]:x"])
def test_a_bad_mqtt_hosts_entry_is_refused_with_its_name(raw):
    from services.common.settings import MqttSettings

    with pytest.raises(ConfigError, match="MQTT_HOSTS"):
        MqttSettings.from_env({"MQTT_HOSTS": raw})


def test_the_clean_session_qos_is_0_or_1():
    from services.common.settings import MqttSettings

    assert MqttSettings.from_env({}).clean_qos == 1
    assert MqttSettings.from_env({"MQTT_CLEAN_SESSION_QOS": "0"}).clean_qos == 0
    with pytest.raises(ConfigError, match="MQTT_CLEAN_SESSION_QOS must be 0 or 1"):
        MqttSettings.from_env({"MQTT_CLEAN_SESSION_QOS": "2"})
