"""Two-factor sign-in: TOTP (RFC 6238, through pyotp: 6 digits, 30-second steps, one step
of clock drift either way) and ten single-use recovery codes; and the organization setting
that makes it mandatory (`require_two_factor`: `off`, `admins`, `everyone`).

A code is accepted once: the time step it was made for is remembered, and a code for that
step or an earlier one is refused (a code seen over a shoulder cannot be replayed)."""

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

import pyotp

from app.domain.enums import OrgRole

RECOVERY_CODES = 10
ISSUER = "ViewLedger"


class Requirement(StrEnum):
    OFF = "off"
    ADMINS = "admins"
    EVERYONE = "everyone"


def required(requirement: Requirement, role: OrgRole) -> bool:
    if requirement is Requirement.EVERYONE:
        return True
    return requirement is Requirement.ADMINS and role is OrgRole.ADMIN


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: datetime, after_step: int | None) -> int | None:
    """The time step `code` is valid for (now, or one step either side), if later than
    `after_step`; else None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if after_step is not None and step <= after_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]


def recovery_digest(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace(" ", "").encode()).hexdigest()
