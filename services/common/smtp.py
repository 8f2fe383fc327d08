"""The deployment's outgoing mail server (SMTP_*), shared by every service that sends mail."""

from collections.abc import Mapping
from dataclasses import dataclass

from .settings import env_bool, env_int, env_str


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes out; ``host`` None means mail is off."""

    host: str | None = None
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "Health Plus <no-reply@localhost>"
    timeout: int = 10

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SmtpSettings":
        return cls(
            host=env_str(env, "SMTP_HOST"),
            port=env_int(env, "SMTP_PORT", 587, minimum=1),
            username=env_str(env, "SMTP_USERNAME"),
            password=env_str(env, "SMTP_PASSWORD"),
            starttls=env_bool(env, "SMTP_STARTTLS", True),
            sender=env_str(env, "SMTP_FROM", "Health Plus <no-reply@localhost>"),
            timeout=env_int(env, "SMTP_TIMEOUT", 10, minimum=1),
        )
