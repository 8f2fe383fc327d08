"""Password-reset and carer-invitation mail, sent from one background thread (no page waits)."""

import logging
import queue
import smtplib
import ssl
import threading
from email.message import EmailMessage

from services.common import logs
from services.common.smtp import SmtpSettings

log = logging.getLogger(__name__)


class Mailer:
    """Owns a bounded outbox and the one thread that empties it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._outbox: queue.Queue[EmailMessage | None] = queue.Queue(maxsize=100)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def send_reset(self, to: str, name: str, link: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = "Reset your Health Plus password"
        message.set_content(
            f"Hello {name},\n\n"
            "Someone (we hope you) asked to reset the password of your Health Plus account.\n"
            f"Open this link within an hour to choose a new one:\n\n{link}\n\n"
            "If you did not ask, ignore this message; your password stays as it is.\n"
        )
        self._queue(message)

    def send_invite(self, to: str, name: str, patient: str, link: str, days: int) -> None:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = f"{patient} invites you to their Health Plus care circle"
        message.set_content(
            f"Hello {name},\n\n"
            f"{patient} asks you to be one of the people told about their health alerts.\n"
            "With an account of your own you can see what they share with you and\n"
            f"acknowledge their alerts. Open this link within {days} days to make it:\n\n"
            f"{link}\n\nThe link works once. If you did not expect this, ignore it.\n"
        )
        self._queue(message)

    def _queue(self, message: EmailMessage) -> None:
        to = message["To"]
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mailer", daemon=True)
                self._thread.start()
        try:
            self._outbox.put_nowait(message)
        except queue.Full:
            logs.event(log, logging.ERROR, "mail.outbox_full", to=to)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._outbox.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while (message := self._outbox.get()) is not None:
            try:
                self._deliver(message)
                logs.event(log, logging.INFO, "mail.sent", to=message["To"])
            except (OSError, smtplib.SMTPException) as exc:
                logs.event(log, logging.ERROR, "mail.failed", to=message["To"], error=exc)

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(message)
