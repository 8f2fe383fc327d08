"""Each service's command line, run as its own process."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("service", ["gateway", "recorder", "scheduler", "web", "notifier"])
def test_services_answer_help_without_starting_and_refuse_unknown_arguments(service):
    # Settings only come from the environment; an argument must not be ignored silently.
    run = [sys.executable, "-m", f"services.{service}"]
    shown = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0
    # argparse writes "usage:", click (the web's admin CLI) "Usage:"
    assert shown.stdout.lower().startswith(f"usage: python -m services.{service}")
    assert "environment variables" in shown.stdout
    refused = subprocess.run([*run, "--port", "1"], capture_output=True, text=True, timeout=30)
    refusals = ("unrecognized arguments: --port 1", "No such option '--port'")
    assert refused.returncode == 2 and any(r in refused.stderr for r in refusals)
