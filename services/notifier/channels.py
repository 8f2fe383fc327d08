"""Sending one message through Apprise: an email address by the deployment's SMTP, else a URL."""

import logging
import re
import threading
import warnings
from urllib.parse import quote, urlencode

from services.common.errors import SmartcabError
from services.common.smtp import SmtpSettings

from .egress import Egress, guarded, refusal

EMAIL = re.compile(r"^[^@\s/:]+@[^@\s/:]+\.[^@\s/:]+$")


class ChannelError(SmartcabError):
    """A message could not go out; the text says why (kept as the delivery's last error)."""


def load():
    """Import Apprise and its plugins once, before any worker thread needs them."""
    # Apprise's e-mail plugin imports the standard library's deprecated ``imghdr``;
    # the warning is about Apprise, not us, and must not turn into an error in tests.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*imghdr")
        import apprise
        from apprise.plugins import N_MGR

        "mailto" in N_MGR  # noqa: B015 - loads the plugins now, inside this filter
    return apprise


class _ThreadLog(logging.Handler):
    """Apprise's warnings from this thread only: workers send at the same time."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


def is_email(channel: str) -> bool:
    return bool(EMAIL.match(channel.strip()))


def mail_url(smtp: SmtpSettings, address: str) -> str:
    """The Apprise ``mailto://`` URL that sends to ``address`` through the deployment's SMTP."""
    if not smtp.enabled:
        raise ChannelError("e-mail is not configured (SMTP_HOST is not set)")
    # 465 is SMTP over TLS from the first byte; elsewhere STARTTLS unless it is turned off
    mode = "ssl" if smtp.port == 465 else "starttls" if smtp.starttls else "insecure"
    query = {"smtp": smtp.host, "mode": mode, "from": smtp.sender, "to": address.strip()}
    credentials = ""
    if smtp.username:
        credentials = quote(smtp.username, safe="")
        if smtp.password:
            credentials += ":" + quote(smtp.password, safe="")
        credentials += "@"
    return (
        f"mailto://{credentials}{smtp.host}:{smtp.port}"
        f"?{urlencode(query, quote_via=quote)}&cto={smtp.timeout}"
    )


def target_url(channel: str, smtp: SmtpSettings) -> str:
    """What Apprise is given for a contact's channel."""
    return mail_url(smtp, channel) if is_email(channel) else channel.strip()


def send(channel: str, title: str, body: str, smtp: SmtpSettings, egress: Egress) -> None:
    """Send one message or raise ChannelError with Apprise's own reason.

    Only to public addresses and those ``egress`` allows (see egress.py).
    """
    apprise = load()
    url = target_url(channel, smtp)
    notifier = apprise.Apprise()
    logger = logging.getLogger("apprise")
    captured = _ThreadLog()
    logger.addHandler(captured)
    try:
        if not notifier.add(url):
            raise ChannelError("the channel is not a valid e-mail address or Apprise URL")
        if len(notifier) != 1:
            # several URLs in one would be sent from other threads, outside the guard
            raise ChannelError("a channel is one e-mail address or one Apprise URL")
        with guarded(egress) as refused:
            ok = notifier.notify(title=title, body=body)
    finally:
        logger.removeHandler(captured)
    if not ok and refused:
        raise ChannelError(refusal(refused[0]))
    if not ok:
        raise ChannelError("; ".join(captured.lines[-3:]) or "the channel refused the message")
