"""Creators' access codes: what a creator types to see their own earnings (the portal) or to
link their Discord account. Generated for every creator, shown once (at creation and when an
admin rotates it), stored as a SHA-256 digest: 80 random bits, so a fast hash is right (as for
API keys). Guessing is bounded by `CodeAttempts`, per client and per code."""

import hashlib
import secrets

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.http.ratelimit import RateLimiter
from app.models import Creator

# Crockford's base32: no I, L, O or U, so a code read aloud or from a screen is typed right.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_GROUPS, _GROUP = 4, 4  # 16 characters, 80 bits
_LOOKALIKES = str.maketrans("OIL", "011")


def generate() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_GROUPS * _GROUP))
    return "-".join(chars[i : i + _GROUP] for i in range(0, len(chars), _GROUP))


def normalize(code: str) -> str:
    """As typed: any case, with or without dashes and spaces; Crockford's look-alikes read as
    the digits they stand for."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    return cleaned.translate(_LOOKALIKES)


def digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


async def issue(session: AsyncSession, creator: Creator) -> str:
    """A new code for the creator, replacing any old one. Returns it: the only time it is
    seen in the clear."""
    code = generate()
    creator.access_code_hash = digest(code)
    await session.flush()
    await session.refresh(creator)  # updated_at, set by the database
    return code


async def creator_for(session: AsyncSession, code: str) -> Creator | None:
    if not code or len(code) > 64:
        return None
    return await session.scalar(select(Creator).where(Creator.access_code_hash == digest(code)))


class CodeAttempts:
    """Attempts to use a code, limited per client (who is guessing) and per code (which one
    is being guessed), through Redis so every API process shares the count."""

    def __init__(self, redis: Redis, per_minute: float, burst: int) -> None:
        self._limiter = RateLimiter(redis, per_minute / 60, burst)

    async def retry_after(self, client: str, code: str) -> int | None:
        """Counts one attempt; the seconds to wait when either limit is spent, else None."""
        waits = []
        for key in (f"code-client:{client}", f"code:{digest(code)}"):
            decision = await self._limiter.hit(hashlib.sha256(key.encode()).hexdigest())
            if decision is not None and not decision.allowed:
                waits.append(decision.retry_after_seconds)
        return max(waits) if waits else None
