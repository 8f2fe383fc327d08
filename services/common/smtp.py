"""The deployment's outgoing mail server (SMTP_*), shared by every service that sends mail."""

from collections.abc import Mapping
from dataclasses import dataclass

from .settings import read_env, setting


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes out; ``host`` None means mail is off."""

    host: str | None = setting(
        "SMTP_HOST",
        None,
        "SMTP server for password-reset mail and care-circle e-mail; unset means no mail",
    )
    port: int = setting("SMTP_PORT", 587, "its port", minimum=1)
    username: str | None = setting("SMTP_USERNAME", None, "SMTP login, if needed")
    password: str | None = setting("SMTP_PASSWORD", None, "its password")
    starttls: bool = setting("SMTP_STARTTLS", True, "upgrade the connection with STARTTLS")
    sender: str = setting("SMTP_FROM", "Health Plus <no-reply@localhost>", "the mail's sender")
    timeout: int = setting("SMTP_TIMEOUT", 10, "seconds per SMTP connection", minimum=1)

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SmtpSettings":
        return read_env(cls, env)
