"""Idempotency keys in PostgreSQL, so every API process sees the same claims. A key is the
API key's own: (organization, API key, `Idempotency-Key`) names one request.

Times come from `clock_timestamp()`, not `now()`: a lease is compared with the moment the
statement runs, whatever transaction it runs in."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import IdempotencyKey as Row


@dataclass(frozen=True)
class Claimed:
    """This request owns the key: run it, then complete or release the claim."""


@dataclass(frozen=True)
class InUse:
    """The first request with this key is still running (its lease has not lapsed)."""


@dataclass(frozen=True)
class Reused:
    """The key was first used for another request."""


@dataclass(frozen=True)
class Replay:
    status_code: int
    headers: dict[str, str]
    body: bytes


Outcome = Claimed | InUse | Reused | Replay


async def claim(
    session: AsyncSession,
    organization_id: uuid.UUID,
    api_key_id: uuid.UUID,
    key: str,
    fingerprint: str,
    lease: timedelta,
    ttl: timedelta,
) -> Outcome:
    """One guarded upsert: it inserts the key, or takes over an expired one or one whose
    request crashed (same request, lease lapsed); otherwise the existing row tells what to
    answer."""
    now = func.clock_timestamp()
    stmt = insert(Row).values(
        organization_id=organization_id,
        api_key_id=api_key_id,
        key=key,
        fingerprint=fingerprint,
        locked_until=now + lease,
        expires_at=now + ttl,
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[Row.organization_id, Row.api_key_id, Row.key],
        set_={
            "fingerprint": stmt.excluded.fingerprint,
            "locked_until": stmt.excluded.locked_until,
            "expires_at": stmt.excluded.expires_at,
            "status_code": None,
            "response_headers": None,
            "response_body": None,
            "created_at": now,
        },
        where=or_(
            Row.expires_at <= now,
            and_(
                Row.status_code.is_(None),
                Row.locked_until <= now,
                Row.fingerprint == stmt.excluded.fingerprint,
            ),
        ),
    ).returning(Row.key)
    if (await session.execute(upsert)).first() is not None:
        return Claimed()
    row = (
        await session.execute(
            select(Row.fingerprint, Row.status_code, Row.response_headers, Row.response_body).where(
                Row.organization_id == organization_id,
                Row.api_key_id == api_key_id,
                Row.key == key,
            )
        )
    ).first()
    if row is None:  # released between the two statements: the first request failed
        return InUse()
    if row.fingerprint != fingerprint:
        return Reused()
    if row.status_code is None:
        return InUse()
    return Replay(row.status_code, dict(row.response_headers or {}), bytes(row.response_body))


async def complete(
    session: AsyncSession,
    organization_id: uuid.UUID,
    api_key_id: uuid.UUID,
    key: str,
    fingerprint: str,
    status_code: int,
    headers: dict[str, str],
    body: bytes,
) -> bool:
    """Stores the answer to replay; False if the claim was lost (its lease lapsed and
    another request took the key over)."""
    result = await session.execute(
        update(Row)
        .where(
            Row.organization_id == organization_id,
            Row.api_key_id == api_key_id,
            Row.key == key,
            Row.fingerprint == fingerprint,
            Row.status_code.is_(None),
        )
        .values(
            status_code=status_code,
            response_headers=headers,
            response_body=body,
            locked_until=None,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(
    session: AsyncSession,
    organization_id: uuid.UUID,
    api_key_id: uuid.UUID,
    key: str,
    fingerprint: str,
) -> None:
    """Frees the key of a request that failed (5xx, crash): a retry runs it for real."""
    await session.execute(
        delete(Row).where(
            Row.organization_id == organization_id,
            Row.api_key_id == api_key_id,
            Row.key == key,
            Row.fingerprint == fingerprint,
            Row.status_code.is_(None),
        )
    )


async def prune_expired(session: AsyncSession, batch: int = 1000) -> int:
    """Deletes up to `batch` expired keys; returns how many. The API calls it now and then
    on its own (see app.idempotency); a worker cron may call it in a loop until it returns
    less than the batch."""
    expired = (
        select(Row.organization_id, Row.api_key_id, Row.key)
        .where(Row.expires_at <= func.clock_timestamp())
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        delete(Row).where(tuple_(Row.organization_id, Row.api_key_id, Row.key).in_(expired))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
