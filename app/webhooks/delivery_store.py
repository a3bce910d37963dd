"""What the delivery sweep (delivery.py) reads and writes: due deliveries chosen in turns
and leased, an attempt recorded under the claim's lease token, and the endpoint's health."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import DeliveryStatus
from app.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent
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


async def record(
    session: AsyncSession,
    claimed: Claimed,
    now: datetime,
    result: Result,
    error: str | None,
    values: dict[str, Any],
) -> bool:
    """Keep the attempt and update its delivery, only while the claim's lease token holds.
    False when it does not (the lease expired and another worker took it over)."""
    session.add(
        WebhookDeliveryAttempt(
            delivery_id=claimed.delivery_id,
            attempted_at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_body=result.body,
            error=result.error,
        )
    )
    recorded = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == claimed.delivery_id,
            WebhookDelivery.lease_token == claimed.lease_token,
        )
        .values(
            attempts=WebhookDelivery.attempts + 1,
            last_status_code=result.status_code,
            last_error=error,
            lease_token=None,
            lease_until=None,
            **values,
        )
        .returning(WebhookDelivery.id)
    )
    return recorded.first() is not None


async def recovered(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
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


async def disable(session: AsyncSession, endpoint_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
        .values(enabled=False, disabled_reason=reason)
    )
