"""Settings come from the environment; an empty value means the default, for every type."""

import pytest

from services.common.errors import ConfigError
from services.common.settings import env_bool
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
