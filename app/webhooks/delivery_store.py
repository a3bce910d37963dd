"""What the delivery sweep (delivery.py) reads and writes: due deliveries chosen in turns
and leased, an attempt recorded under the claim's lease token, and the endpoint's health."""

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, text, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import DeliveryStatus
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.webhooks.attempts import Result


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    organization_id: uuid.UUID
    event_id: uuid.UUID
    lease_token: uuid.UUID
    attempts: int
    url: str
    secret_encrypted: str
    previous_secret_encrypted: str | None
    previous_secret_expires_at: datetime | None
    payload: dict[str, Any]


def due(
    now: datetime, limit: int, full_endpoints: list[uuid.UUID], full_orgs: list[uuid.UUID]
) -> Select[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Up to `limit` due deliveries of enabled endpoints, organizations in turns (every
    organization's oldest before anyone's second), locked (skipping rows another worker
    holds), leaving out the endpoints and organizations with no room left."""
    conditions = [
        WebhookDelivery.status == DeliveryStatus.PENDING.value,
        WebhookDelivery.next_attempt_at <= now,
        (WebhookDelivery.lease_until.is_(None)) | (WebhookDelivery.lease_until <= now),
        WebhookEndpoint.enabled,
    ]
    if full_endpoints:
        conditions.append(WebhookDelivery.endpoint_id.not_in(full_endpoints))
    if full_orgs:
        conditions.append(WebhookDelivery.organization_id.not_in(full_orgs))
    # Each organization with an endpoint offers its oldest due deliveries (an index range
    # each: webhook_deliveries_org_due_idx), and the claim takes them in turns: one
    # ORDER BY over every due delivery would give a backlog all the slots.
    tenants = (
        select(WebhookEndpoint.organization_id.label("org"))
        .where(WebhookEndpoint.enabled)
        .distinct()
        .subquery("tenants")
    )
    offered = (
        select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*conditions, WebhookDelivery.organization_id == tenants.c.org)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .lateral("offered")
    )
    turn = func.row_number().over(partition_by=tenants.c.org, order_by=offered.c.next_attempt_at)
    turns = (
        select(offered.c.id, offered.c.next_attempt_at, turn.label("turn"))
        .select_from(tenants)
        .join(offered, true())
        .subquery("turns")
    )
    chosen = (
        select(turns.c.id, turns.c.turn)
        .order_by(turns.c.turn, turns.c.next_attempt_at)
        .limit(limit)
        .subquery("chosen")
    )
    # Lock what was chosen, skipping rows another worker holds; the conditions again,
    # since the choice was read without locks.
    return (
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.organization_id)
        .join(chosen, chosen.c.id == WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*conditions)
        .order_by(chosen.c.turn, WebhookDelivery.next_attempt_at)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )


async def lease(
    session: AsyncSession, picked: Sequence[uuid.UUID], token: uuid.UUID, lease_until: datetime
) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(picked))
        .values(lease_token=token, lease_until=lease_until)
    )


async def details(session: AsyncSession, picked: Sequence[uuid.UUID]) -> Sequence[Any]:
    """What sending each picked delivery needs: its endpoint's URL and secrets, its event."""
    return (
        await session.execute(
            select(
                WebhookDelivery.id,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.organization_id,
                WebhookDelivery.event_id,
                WebhookDelivery.attempts,
                WebhookEndpoint.url,
                WebhookEndpoint.secret_encrypted,
                WebhookEndpoint.previous_secret_encrypted,
                WebhookEndpoint.previous_secret_expires_at,
                WebhookEvent.payload,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(picked))
        )
    ).all()


async def oldest_pending(session: AsyncSession) -> datetime | None:
    """When the oldest undelivered delivery of an enabled endpoint was created."""
    oldest: datetime | None = await session.scalar(
        select(func.min(WebhookDelivery.created_at))
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookEndpoint.enabled,
        )
    )
    return oldest


@dataclass(frozen=True)
class Attempted:
    """One attempt's outcome, to record under its claim's lease token. `status`: succeeded or
    failed (the delivery is finished); None while retries are left (`next_attempt_at`)."""

    claimed: Claimed
    at: datetime
    result: Result
    error: str | None
    status: DeliveryStatus | None
    next_attempt_at: datetime | None


# Every attempt is kept (a delivery deleted meanwhile, with its endpoint, has nothing to keep
# it under); each delivery is updated only while its claim's lease token holds.
_RECORD = text(
    """
    WITH u AS (
      SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:ats AS timestamptz[]),
        CAST(:codes AS integer[]), CAST(:latencies AS integer[]), CAST(:bodies AS text[]),
        CAST(:errors AS text[]), CAST(:last_errors AS text[]), CAST(:statuses AS text[]),
        CAST(:next_ats AS timestamptz[])
      ) AS u(id, token, at, code, latency, body, error, last_error, status, next_at)
    ), kept AS (
      INSERT INTO webhook_delivery_attempts
        (delivery_id, attempted_at, status_code, latency_ms, response_body, error)
      SELECT u.id, u.at, u.code, u.latency, u.body, u.error
        FROM u JOIN webhook_deliveries d ON d.id = u.id
    )
    UPDATE webhook_deliveries d
       SET attempts = d.attempts + 1, last_status_code = u.code, last_error = u.last_error,
           lease_token = NULL, lease_until = NULL, status = coalesce(u.status, d.status),
           next_attempt_at = u.next_at,
           finished_at = CASE WHEN u.status IS NULL THEN d.finished_at ELSE u.at END
      FROM u
     WHERE d.id = u.id AND d.lease_token = u.token
    RETURNING d.id
    """
)


async def record(session: AsyncSession, attempts: Sequence[Attempted]) -> set[uuid.UUID]:
    """Keep the attempts and update their deliveries, in one statement. Returns the
    deliveries updated: one missing was not (its lease expired and another worker took it
    over)."""
    params = {
        "ids": [a.claimed.delivery_id for a in attempts],
        "tokens": [a.claimed.lease_token for a in attempts],
        "ats": [a.at for a in attempts],
        "codes": [a.result.status_code for a in attempts],
        "latencies": [a.result.latency_ms for a in attempts],
        "bodies": [a.result.body for a in attempts],
        "errors": [a.result.error for a in attempts],
        "last_errors": [a.error for a in attempts],
        "statuses": [a.status.value if a.status else None for a in attempts],
        "next_ats": [a.next_attempt_at for a in attempts],
    }
    return set((await session.execute(_RECORD, params)).scalars())


async def recovered(session: AsyncSession, endpoint_ids: Collection[uuid.UUID]) -> None:
    """A success ends each endpoint's failing streak."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id.in_(endpoint_ids), WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
    )


async def failing_since(
    session: AsyncSession, endpoint_id: uuid.UUID, now: datetime
) -> datetime | None:
    """Since when the endpoint has been failing (from now, if this is its first failure)."""
    since: datetime | None = await session.scalar(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(failing_since=func.coalesce(WebhookEndpoint.failing_since, now))
        .returning(WebhookEndpoint.failing_since)
    )
    return since


async def disable(session: AsyncSession, endpoint_id: uuid.UUID, reason: str) -> bool:
    """False when it was disabled already."""
    disabled = await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
        .values(enabled=False, disabled_reason=reason)
        .returning(WebhookEndpoint.id)
    )
    return disabled.first() is not None
