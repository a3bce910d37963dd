"""People who sign in: invitations and password resets (single-use links), passwords
(app.domain.passwords), sign-in throttled per account and per client address, and sessions
on the server.

A session is a row named by the SHA-256 digest of a random 256-bit token the cookie carries
(HttpOnly, SameSite=Lax, Secure over HTTPS). It ends on sign-out, on sign-out everywhere,
when its user is removed, after SESSION_IDLE_MINUTES unused, and SESSION_MAX_HOURS after
sign-in. Each session has its own CSRF token, answered at sign-in and by GET /v1/session:
every request the cookie authorizes that is not a read carries it in `X-CSRF-Token`.

A user acts through a key row of their own (created with the user, its secret discarded), so
everything that records "which key" records the user's, and idempotency keys are per user."""

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import hash_key
from app.domain import audit, passwords, two_factor
from app.domain.enums import OrgRole, UserStatus, UserTokenPurpose
from app.domain.errors import Conflict, InvalidInput
from app.domain.two_factor import Requirement
from app.http.ratelimit import RateLimiter
from app.models import Organization, User
from app.repositories import audit as audit_repo
from app.repositories import users
from app.services import mail
from app.services import two_factor as two_factor_service
from app.settings import Settings

COOKIE = "viewledger_session"
CSRF_HEADER = "X-CSRF-Token"


class TwoFactorRequired(Exception):
    """The password was right; the user signs in with a second factor too (send `code`)."""


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many sign-in attempts")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Started:
    user: User
    token: str
    csrf_token: str
    expires_at: datetime
    two_factor_pending: bool = False


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _link(settings: Settings, token: str) -> str:
    base = settings.public_base_url or f"http://{settings.api_host}:{settings.api_port}"
    return f"{base}/app/set-password?token={quote(token)}"


async def _count_attempt(redis: Redis, settings: Settings, client: str, email: str) -> None:
    """One attempt against the account's and the address's budgets (sign-ins and reset
    requests share them); TooManyAttempts past either."""
    attempts = SignInAttempts(
        redis, settings.sign_in_attempts_per_minute, settings.sign_in_attempt_burst
    )
    wait = await attempts.retry_after(client, email)
    if wait is not None:
        raise TooManyAttempts(wait)


async def _issue(
    session: AsyncSession, settings: Settings, user: User, purpose: UserTokenPurpose
) -> Link:
    token = secrets.token_urlsafe(32)
    hours = (
        settings.invitation_ttl_hours
        if purpose is UserTokenPurpose.INVITATION
        else settings.password_reset_ttl_hours
    )
    expires_at = datetime.now(UTC) + timedelta(hours=hours)
    await users.issue_token(session, user, purpose, hash_key(token), expires_at)
    return Link(_link(settings, token), expires_at)


async def invite(
    session: AsyncSession,
    settings: Settings,
    organization_id: uuid.UUID,
    email: str,
    name: str,
    role: OrgRole,
) -> tuple[User, Link]:
    """A new user, invited: the answer holds the link (shown once; it sets the password)."""
    user = await users.create(session, organization_id, normalize_email(email), name, role)
    if user is None:
        raise Conflict("email_taken", "A user with that email already exists.")
    return user, await _issue(session, settings, user, UserTokenPurpose.INVITATION)


async def invitation_mail(
    session: AsyncSession, settings: Settings, user: User, link: Link
) -> tuple[str, str, str] | None:
    """The invitation as an email (to, subject, text) when email is configured; the caller
    sends it after the commit (app.services.mail), so nobody is mailed a rolled-back link."""
    if not mail.enabled(settings):
        return None
    org = await session.get(Organization, user.organization_id)
    assert org is not None
    subject, text = mail.invitation(link.url, f"{link.expires_at:%Y-%m-%d %H:%M}", org.name)
    return user.email, subject, text


async def set_require_two_factor(
    session: AsyncSession, organization_id: uuid.UUID, requirement: Requirement
) -> Organization:
    """Who must sign in with a second factor (`off`, `admins` or `everyone`)."""
    org = await session.get(Organization, organization_id)
    assert org is not None
    org.require_two_factor = requirement.value
    await session.flush()
    return org


async def reset_link(session: AsyncSession, settings: Settings, user: User) -> Link:
    """A new password link for the user (an invited user's new invitation); any older
    unused link stops working. The current password keeps working until the link is used."""
    if user.status is UserStatus.REMOVED:
        raise Conflict("user_removed", "The user was removed; invite them again instead.")
    purpose = (
        UserTokenPurpose.INVITATION
        if user.status is UserStatus.INVITED
        else UserTokenPurpose.PASSWORD_RESET
    )
    return await _issue(session, settings, user, purpose)


def check_password(password: str) -> None:
    problem = passwords.problem(password)
    if problem is not None:
        raise InvalidInput("password_too_weak", problem, "password")


async def set_password(session: AsyncSession, token: str, password: str) -> User:
    """Spends the link and sets the password; the user is active and every session they had
    ends (a reset is often because someone else got in). The password is checked first, so a
    refused one leaves the link usable."""
    check_password(password)
    user = await users.use_token(session, hash_key(token), datetime.now(UTC))
    if user is None:
        raise InvalidInput(
            "link_invalid",
            "The link is unknown, used or expired; ask an admin for a new one.",
            "token",
        )
    user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
    user.status = UserStatus.ACTIVE
    await users.end_all_sessions(session, user.id)
    await session.flush()
    return user


class SignInAttempts:
    """Sign-in attempts, limited per account (whoever is guessing its password) and per
    client address (whoever is guessing), through Redis so every API process shares them. A
    token bucket: the budget refills, so no stranger can lock an account out for good."""

    def __init__(self, redis: Redis, per_minute: float, burst: int) -> None:
        self._limiter = RateLimiter(redis, per_minute / 60, burst)

    async def retry_after(self, client: str, email: str) -> int | None:
        waits = []
        for key in (f"sign-in-client:{client}", f"sign-in-account:{email}"):
            decision = await self._limiter.hit(hash_key(key))
            if decision is not None and not decision.allowed:
                waits.append(decision.retry_after_seconds)
        return max(waits) if waits else None


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    client: str,
    email: str,
    password: str,
    code: str | None = None,
) -> Started | None:
    """Counts the attempt (TooManyAttempts past either budget), then a new session, or None
    for any wrong email, wrong password or user who cannot sign in: the caller answers the
    same for all of them, and a dummy hash is checked when there is no user, so the time
    taken does not tell either."""
    email = normalize_email(email)
    await _count_attempt(redis, settings, client, email)
    user = await users.by_email(session, email)
    stored = user.password_hash if user is not None else None
    verified = await asyncio.to_thread(passwords.verify, stored, password)
    if user is None or not verified.ok or user.status is not UserStatus.ACTIVE:
        return None
    pending = False
    if user.two_factor_enabled_at is not None:
        if not code:
            raise TwoFactorRequired
        # The user's row locked until the request commits, and read again: two sign-ins with
        # the same code at once are checked one after the other, so a code is spent once.
        await session.refresh(user, with_for_update=True)
        if not two_factor_service.check(settings, user, code):
            return None
    else:
        org = await session.get(Organization, user.organization_id)
        assert org is not None
        requirement = two_factor.Requirement(org.require_two_factor)
        pending = two_factor.required(requirement, user.role)
    if verified.needs_rehash:  # the parameters changed since: store it the current way
        user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
    now = datetime.now(UTC)
    user.last_sign_in_at = now
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=settings.session_max_hours)
    await users.start_session(
        session, user, hash_key(token), csrf, now, expires_at, client, two_factor_pending=pending
    )
    await audit_repo.record(
        session,
        user.organization_id,
        audit.SIGNED_IN,
        "user",
        user.id,
        actor_user_id=user.id,
        client_address=client,
    )
    return Started(user, token, csrf, expires_at, pending)


# A session's last use is written at most this often (a busy client is not one write per
# request); the idle timeout is therefore exact to within this.
_TOUCH_EVERY = timedelta(seconds=60)


async def live(session: AsyncSession, settings: Settings, token: str | None) -> users.Live | None:
    """The live session the cookie names, its user, key id and organization; None for a
    missing, unknown, ended, idle or expired one. Reads only (see `record_use`)."""
    if not token or len(token) > 128:
        return None
    now = datetime.now(UTC)
    idle_since = now - timedelta(minutes=settings.session_idle_minutes)
    return await users.live_session(session, hash_key(token), now, idle_since)


def use_due(row: users.SignedSession) -> bool:
    """Whether a use of the session moves its last-seen (at most once a _TOUCH_EVERY, so
    most requests write nothing)."""
    return datetime.now(UTC) - row.last_seen_at >= _TOUCH_EVERY


async def record_use(session: AsyncSession, row: users.SignedSession) -> None:
    await users.touch_session(session, row.id, datetime.now(UTC))


async def current(
    session: AsyncSession, settings: Settings, token: str | None
) -> users.Live | None:
    """`live`, and records the use when it is due."""
    found = await live(session, settings, token)
    if found is not None and use_due(found[0]):
        await record_use(session, found[0])
    return found


async def sign_out(session: AsyncSession, token: str | None) -> None:
    if token:
        await users.end_session(session, hash_key(token))


async def sign_out_everywhere(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await users.end_all_sessions(session, user_id)


async def create_signed_up(
    session: AsyncSession,
    settings: Settings,
    organization_id: uuid.UUID,
    email: str,
    name: str,
    role: OrgRole,
    password: str,
) -> User:
    """A user who can sign in at once with `password` (the `make run` demo's admin)."""
    check_password(password)
    user, _ = await invite(session, settings, organization_id, email, name, role)
    user.password_hash = await asyncio.to_thread(passwords.hash_password, password)
    user.status = UserStatus.ACTIVE
    await users.spend_tokens(session, user.id)
    await session.flush()
    return user


async def audit_throttled(session: AsyncSession, email: str, client: str) -> None:
    """A burst of sign-ins for a known account hit its limit: recorded for its organization
    (an unknown email has none; the client address budget still applies)."""
    user = await users.by_email(session, normalize_email(email))
    if user is not None:
        await audit_repo.record(
            session,
            user.organization_id,
            audit.SIGN_IN_THROTTLED,
            "user",
            user.id,
            client_address=client,
        )


async def request_reset(
    session: AsyncSession, settings: Settings, redis: Redis, client: str, email: str
) -> tuple[User, Link] | None:
    """A user's own request for a password link by email: counted like a sign-in attempt
    (TooManyAttempts past the budget); the user and their new link when the email is an
    active user's, else None (the caller answers the same either way)."""
    email = normalize_email(email)
    await _count_attempt(redis, settings, client, email)
    user = await users.by_email(session, email)
    if user is None or user.status is not UserStatus.ACTIVE:
        return None
    return user, await _issue(session, settings, user, UserTokenPurpose.PASSWORD_RESET)
