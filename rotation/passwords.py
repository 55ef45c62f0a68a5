"""MemoryDB password rules and the generator that always satisfies them."""

from __future__ import annotations

import secrets
import string

from pydantic import SecretStr

from rotation.errors import InvalidPasswordError

MIN_LENGTH = 16
MAX_LENGTH = 128
# MemoryDB (as ElastiCache RBAC) refuses , " / @ and spaces. Quotes, backslash and backtick are
# left out too so a password survives being pasted into a shell or a redis-cli command.
_PUNCTUATION = "!#$%&()*+-.:;<=>?[]^_{|}~"
ALPHABET = string.ascii_letters + string.digits + _PUNCTUATION
_FORBIDDEN = frozenset(',"/@ ')


def generate(length: int) -> SecretStr:
    """A CSPRNG password with at least one lower, upper, digit and punctuation character."""
    check_length(length)
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _PUNCTUATION)
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if all(any(ch in cls for ch in candidate) for cls in classes):
            return SecretStr(candidate)


def check_length(length: int) -> None:
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise InvalidPasswordError(f"password length must be {MIN_LENGTH}-{MAX_LENGTH}")


def validate(password: SecretStr) -> None:
    """Refuse a password MemoryDB would refuse, before it is written anywhere."""
    value = password.get_secret_value()
    check_length(len(value))
    if any(ch in _FORBIDDEN or not ch.isprintable() or not ch.isascii() for ch in value):
        raise InvalidPasswordError(
            'password has a character MemoryDB refuses (, " / @ space or non-printable)'
        )
