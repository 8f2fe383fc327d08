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
