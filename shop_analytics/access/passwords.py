"""Password hashes: argon2id (argon2-cffi's defaults, RFC 9106's second recommended
setting), stored as the encoded `$argon2id$v=19$m=...,t=...,p=...$salt$hash` string."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The encoded argon2id hash of `password` with a fresh random salt."""
    if not password:
        raise ValueError("a password cannot be empty")
    return _HASHER.hash(password)


def check_hash(encoded: object, where: str) -> str:
    """`encoded` if it reads as an argon2 hash, else ValueError saying how to make one."""
    if not isinstance(encoded, str) or not encoded.startswith("$argon2"):
        raise ValueError(f"{where} is not an argon2 hash: make one with `python cli.py user add NAME --role ROLE`.")
    return encoded


@cache
def _unknown_user_hash() -> str:
    return _HASHER.hash("no user has this password")


def verify_password(encoded: str | None, password: str) -> bool:
    """Whether `password` matches the hash `encoded`. With `encoded` None (no such user) a
    hash is still checked, so that an unknown name takes as long to refuse as a wrong
    password and the time taken does not tell which names exist."""
    try:
        _HASHER.verify(encoded or _unknown_user_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return encoded is not None
