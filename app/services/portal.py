"""The creator portal's rules: logging in with an access code (attempts limited), the signed
session cookie, and one creator's posts and totals as the creator may see them.

The session is a row (app.repositories.portal_sessions) named by a signed cookie:
`<payload>.<HMAC-SHA256>`, the payload being the session's and the creator's ids, the first
characters of their code's digest and the expiry, signed with a key derived from SECRET_KEY.
Nothing in it is secret (the digest prefix is of a hash of an 80-bit random code); the
signature makes it unforgeable, the expiry bounds it, signing out deletes the row (the cookie
is dead at once, wherever a copy of it is), and the digest prefix ends every session of a
code when an admin rotates it."""

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.payouts import PORTAL_STATUS, portal_reason
from app.models import Creator
from app.repositories import portal as portal_repo
from app.repositories import portal_sessions
from app.schemas.portal import PortalCreator, PortalPost, PortalSummary, PortalTotal
from app.services import access_codes
from app.settings import Settings

COOKIE = "viewledger_portal"
_DIGEST_PREFIX = 16
_LOCKED = {PostStatus.HELD, PostStatus.PENDING_CPM, PostStatus.FINALIZED, PostStatus.PAID}


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many access-code attempts")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Session:
    creator: Creator
    token: str
    expires_at: datetime


def _key(settings: Settings) -> bytes:
    # Its own key, derived: a signature made for the portal is good for nothing else.
    return hmac.new(settings.secret_key.encode(), b"viewledger portal session", "sha256").digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, creator: Creator, session_id: uuid.UUID, expires_at: datetime) -> str:
    assert creator.access_code_hash is not None
    payload = _b64(
        json.dumps(
            {
                "s": str(session_id),
                "c": str(creator.id),
                "k": creator.access_code_hash[:_DIGEST_PREFIX],
                "e": int(expires_at.timestamp()),
            },
            separators=(",", ":"),
        ).encode()
    )
    mac = hmac.new(_key(settings), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def _claims(settings: Settings, token: str, now: datetime) -> dict[str, Any] | None:
    payload, _, mac = token.partition(".")
    if not payload or not mac or len(token) > 512:
        return None
    expected = hmac.new(_key(settings), payload.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        claims = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("e"), int):
        return None
    if claims["e"] <= now.timestamp():
        return None
    return claims


async def creator_for_token(
    session: AsyncSession, settings: Settings, token: str | None
) -> Creator | None:
    """The session's creator, or None: unsigned, expired, or the code was rotated since."""
    if not token:
        return None
    now = datetime.now(UTC)
    claims = _claims(settings, token, now)
    if claims is None:
        return None
    try:
        session_id = uuid.UUID(str(claims.get("s")))
        creator_id = uuid.UUID(str(claims.get("c")))
    except ValueError:
        return None
    creator = await portal_sessions.creator_of(session, session_id, creator_id, now)
    if creator is None or creator.access_code_hash is None:
        return None
    if not hmac.compare_digest(creator.access_code_hash[:_DIGEST_PREFIX], str(claims.get("k", ""))):
        return None
    return creator


async def login(
    session: AsyncSession, settings: Settings, redis: Redis, client: str, code: str
) -> Session | None:
    """Counts the attempt (per client and per code; TooManyAttempts when either is spent),
    then the code's creator with a new session, or None for a wrong code."""
    attempts = access_codes.CodeAttempts(
        redis, settings.portal_code_attempts_per_minute, settings.portal_code_attempt_burst
    )
    wait = await attempts.retry_after(client, code)
    if wait is not None:
        raise TooManyAttempts(wait)
    creator = await access_codes.creator_for(session, code)
    if creator is None:
        return None
    now = datetime.now(UTC)
    expires_at = now + timedelta(hours=settings.portal_session_hours)
    session_id = await portal_sessions.start(session, creator, expires_at, now)
    return Session(creator, sign(settings, creator, session_id, expires_at), expires_at)


async def logout(session: AsyncSession, settings: Settings, token: str | None) -> None:
    """Ends the cookie's session on the server: a copy of the cookie no longer signs anyone
    in. Nothing to do for a missing, forged or expired cookie."""
    claims = _claims(settings, token, datetime.now(UTC)) if token else None
    if claims is None:
        return
    try:
        session_id = uuid.UUID(str(claims.get("s")))
    except ValueError:
        return
    await portal_sessions.end(session, session_id)


def who(creator: Creator) -> PortalCreator:
    return PortalCreator.model_validate(creator)


def _post(row: Any) -> PortalPost:
    status = PostStatus(row.status)
    locked = status in _LOCKED and row.locked_views is not None
    return PortalPost(
        id=row.id,
        campaign=row.campaign,
        platform=row.platform,
        url=row.url,
        published_at=row.published_at,
        status=PORTAL_STATUS[status],
        status_reason=portal_reason(status, row.rejection_reason),
        views=row.locked_views if locked else row.views,
        views_locked=locked,
        earnings=row.earnings,
        currency=row.currency,
        paid_at=row.paid_at,
    )


async def posts_page(
    session: AsyncSession, creator: Creator, cursor: str | None, limit: int
) -> tuple[list[PortalPost], str | None]:
    rows, next_cursor = await portal_repo.posts_page(session, creator.id, cursor, limit)
    return [_post(r) for r in rows], next_cursor


async def summary(session: AsyncSession, creator: Creator) -> PortalSummary:
    rows: Sequence[Any] = await portal_repo.totals(session, creator.id)
    return PortalSummary(creator=who(creator), totals=[PortalTotal.model_validate(r) for r in rows])
