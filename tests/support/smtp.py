"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

import email
import email.policy
import threading
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from .net import free_port


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink._lock:
            self.sink._messages.append(message)
        self.sink._arrived.set()
        return "250 OK"


class SmtpSink:
    """Start with ``with SmtpSink() as sink:``; ``sink.wait()`` returns the next message."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._arrived = threading.Event()
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    def __enter__(self) -> "SmtpSink":
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def wait(self, timeout: float = 10.0) -> EmailMessage:
        if not self._arrived.wait(timeout):
            raise AssertionError(f"no mail arrived within {timeout} s")
        return self.messages[-1]

    def env(self) -> dict[str, str]:
        return {"SMTP_HOST": self.host, "SMTP_PORT": str(self.port), "SMTP_STARTTLS": "0"}
