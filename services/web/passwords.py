"""Password hashing (argon2id at OWASP's parameters) and the password policy."""

from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import ValidationError

MIN_LENGTH = 10
MAX_LENGTH = 256

# OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)

# Verified against when the account does not exist, so a miss costs as much as a hit.
_DUMMY_HASH = HASHER.hash("not a real password, only here to spend the same time")


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files(__package__).joinpath("common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_policy(password: str, *personal: str) -> None:
    """Raise ValidationError with a reason a person can act on."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords() or lowered.rstrip("0123456789!.") in common_passwords():
        raise ValidationError("That password is too common; choose another.")
    for item in personal:
        if item and len(item) >= 3 and item.lower() in lowered:
            raise ValidationError("The password must not contain your user name, email or ID.")
    if len(set(password)) < 4:
        raise ValidationError("That password repeats too few characters.")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Check ``password`` against ``stored``; with None, spend the time and say no."""
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)
