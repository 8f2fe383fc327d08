"""``--help`` for the long-running services, which take their settings from the environment."""

import argparse

EPILOG = (
    "Settings come from environment variables; docs/configuration.md lists each with its default."
)


def parse_service_args(prog: str, description: str | None, argv: list[str] | None) -> None:
    """Answer ``--help``; refuse any other argument with the usage line (exit 2)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=EPILOG)
    parser.parse_args(argv)
