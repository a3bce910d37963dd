"""Setting up, checking and resetting users' second factor (app.domain.two_factor). The TOTP
secret is stored encrypted (the webhook vault's Fernet under SECRET_KEY); recovery codes as
SHA-256 digests (each is 64 random bits, used once)."""

import io
from dataclasses import dataclass
from datetime import UTC, datetime

import segno
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import two_factor
from app.domain.errors import Conflict, InvalidInput
from app.models import User, UserSession
from app.repositories import users
from app.settings import Settings
from app.webhooks import vault


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()


async def start(session: AsyncSession, settings: Settings, user: User) -> Enrolment:
    """A new secret to scan (its QR code) or type; it takes effect once a code confirms it."""
    if user.two_factor_enabled_at is not None:
        raise Conflict(
            "two_factor_enabled",
            "Two-factor sign-in is already on; an admin can reset it to set it up again.",
        )
    secret = two_factor.new_secret()
    user.totp_secret = vault.encrypt(settings, secret)
    await session.flush()
    uri = two_factor.provisioning_uri(secret, user.email)
    return Enrolment(secret, uri, _qr_svg(uri))


async def confirm(session: AsyncSession, settings: Settings, user: User, code: str) -> list[str]:
    """Turns two-factor sign-in on with a code from the new secret; returns the ten recovery
    codes (shown this once). The user's sessions waiting for it may now do everything."""
    if user.two_factor_enabled_at is not None:
        raise Conflict("two_factor_enabled", "Two-factor sign-in is already on.")
    if user.totp_secret is None:
        raise Conflict("two_factor_not_started", "Start with POST /v1/session/two-factor.")
    step = two_factor.matching_step(
        vault.decrypt(settings, user.totp_secret), code, datetime.now(UTC), None
    )
    if step is None:
        raise InvalidInput("two_factor_code_invalid", "That code is not valid now.", "code")
    codes = two_factor.new_recovery_codes()
    user.two_factor_enabled_at = datetime.now(UTC)
    user.totp_last_step = step
    user.recovery_code_hashes = [two_factor.recovery_digest(c) for c in codes]
    await session.execute(
        update(UserSession).where(UserSession.user_id == user.id).values(two_factor_pending=False)
    )
    await session.flush()
    return codes


def check(settings: Settings, user: User, code: str) -> bool:
    """Whether `code` (a current TOTP code, or an unused recovery code) passes; spends it.
    The caller flushes the user."""
    if user.totp_secret is None or user.two_factor_enabled_at is None:
        return False
    step = two_factor.matching_step(
        vault.decrypt(settings, user.totp_secret), code, datetime.now(UTC), user.totp_last_step
    )
    if step is not None:
        user.totp_last_step = step
        return True
    digest = two_factor.recovery_digest(code)
    remaining = list(user.recovery_code_hashes or [])
    if digest in remaining:
        remaining.remove(digest)
        user.recovery_code_hashes = remaining
        return True
    return False


async def reset(session: AsyncSession, user: User) -> None:
    """An admin's reset: the second factor is off until the user sets it up again, and every
    session of the user ends (a lost phone may be a stolen one: whoever holds a session signed
    in with it must sign in again)."""
    user.totp_secret = None
    user.two_factor_enabled_at = None
    user.totp_last_step = None
    user.recovery_code_hashes = None
    await session.flush()
    await users.end_all_sessions(session, user.id)
