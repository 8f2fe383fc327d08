"""The web's secret key: it encrypts TOTP secrets at rest and signs browser tokens.

One Fernet key (from ``WEB_SECRET_KEY_FILE``, or a file made on first start in the
data directory) is the root; the signing keys are derived from it with HKDF, so a
leaked cookie-signing key says nothing about the encryption key.
"""

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, URLSafeTimedSerializer

from services.common import logs
from services.common.errors import ConfigError

log = logging.getLogger(__name__)

# A Fernet token always starts so; a base32 TOTP secret (A-Z, 2-7) never does.
FERNET_PREFIX = "gAAAAA"


class Keys:
    """Encryption of secrets at rest and signed, dated tokens for the browser."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._root = key

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The clear text; raises ValueError when the token was not made with this key."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret encrypted with another key") from exc

    def derive(self, purpose: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return hkdf.derive(self._root)

    def signer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.derive(purpose), salt=purpose)

    def unsign(self, purpose: str, token: str, max_age: int):
        """The signed value, or None when the token is forged, altered or too old."""
        try:
            return self.signer(purpose).loads(token, max_age=max_age)
        except (BadSignature, ValueError, TypeError):
            return None


def is_encrypted(stored: str) -> bool:
    return stored.startswith(FERNET_PREFIX)


def load(path: Path) -> Keys:
    """The key in ``path``, making the file (owner-only) when it does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key() + b"\n")
        logs.event(log, logging.WARNING, "web.secret_key_created", path=str(path))
    try:
        return Keys(path.read_bytes().strip())
    except (ValueError, OSError) as exc:
        raise ConfigError(
            f"WEB_SECRET_KEY_FILE {path} must hold a Fernet key"
            " (make one with: python -c 'from cryptography.fernet import Fernet;"
            " print(Fernet.generate_key().decode())')"
        ) from exc
