"""Settings come from the environment; an empty value means the default, for every type."""

import subprocess
import sys

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


@pytest.mark.parametrize("service", ["gateway", "recorder", "scheduler", "web"])
def test_services_answer_help_without_starting_and_refuse_unknown_arguments(service):
    # Settings only come from the environment; an argument must not be ignored silently.
    run = [sys.executable, "-m", f"services.{service}"]
    shown = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    assert shown.stdout.startswith(f"usage: python -m services.{service}")
    assert "environment variables" in shown.stdout
    refused = subprocess.run([*run, "--port", "1"], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 2 and "unrecognized arguments: --port 1" in refused.stderr
