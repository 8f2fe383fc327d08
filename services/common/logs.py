"""One line per event, ``key=value`` pairs, so logs grep and parse well."""

import logging
import os
import sys


def _quote(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def event(logger: logging.Logger, level: int, name: str, **fields: object) -> None:
    """Log ``name`` with its fields as one ``event=name k=v`` line."""
    if logger.isEnabledFor(level):
        pairs = " ".join(f"{k}={_quote(v)}" for k, v in fields.items() if v is not None)
        logger.log(level, "event=%s%s", name, " " + pairs if pairs else "")


def setup(service: str) -> None:
    """Configure the root logger for a service process (LOG_LEVEL, default INFO)."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level, logging.INFO),
        format=f"%(asctime)s %(levelname)s service={service} %(message)s",
    )
