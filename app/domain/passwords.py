"""Users' passwords: the rule a new password must meet, and argon2id hashing.

- At least `MIN_LENGTH` characters (Unicode characters, after nothing is stripped) and at
  most `MAX_LENGTH` (hashing a megabyte would be a denial of service), and not one of the
  common passwords the project ships (`common_passwords.txt`, compared case-insensitively).
- argon2id through argon2-cffi's `PasswordHasher` with its recommended parameters (RFC 9106's
  low-memory profile). A stored hash made with other parameters verifies and is then
  rehashed with the current ones (`verify` says so), so raising them upgrades every user at
  their next sign-in.
Hashing costs tens of milliseconds of CPU by design: callers run it in a thread."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
_COMMON = Path(__file__).with_name("common_passwords.txt")
_hasher = PasswordHasher()


@cache
def common_passwords() -> frozenset[str]:
    lines = _COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(ln.strip().lower() for ln in lines if ln.strip() and not ln.startswith("#"))


def problem(password: str) -> str | None:
    """Why the password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"A password needs at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"A password has at most {MAX_LENGTH} characters."
    if password.lower() in common_passwords():
        return "That password is one of the most common ones; choose another."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Verified:
    ok: bool
    needs_rehash: bool = False


def verify(stored: str | None, password: str) -> Verified:
    """Whether `password` matches `stored`; with None stored (no such user, or no password
    yet) a dummy hash is checked so the answer takes as long either way."""
    try:
        _hasher.verify(stored or _dummy(), password)
    except (VerificationError, InvalidHashError):
        return Verified(False)
    if stored is None:
        return Verified(False)
    return Verified(True, _hasher.check_needs_rehash(stored))


@cache
def _dummy() -> str:
    return _hasher.hash("not anybody's password, for timing")
