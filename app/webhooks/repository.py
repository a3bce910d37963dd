"""Queries of the webhook endpoints API. Values or None; never HTTP errors (the router maps)."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import DeliveryStatus
from app.models import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from app.repositories.common import lock_organization
from app.repositories.pagination import Sort, by_time, fetch_page


async def count_endpoints_locked(session: AsyncSession, org: uuid.UUID) -> int:
    """The organization's endpoints (disabled ones too), counted under a lock on the
    organization's row (FOR NO KEY UPDATE), so two creates at once cannot both see room for
    one more; the lock lasts until the transaction ends."""
    await lock_organization(session, org)
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == org)
    )
    return int(count or 0)


async def create_endpoint(
    session: AsyncSession, org: uuid.UUID, fields: dict[str, Any], secret_encrypted: str
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(organization_id=org, secret_encrypted=secret_encrypted, **fields)
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def get_endpoint(
    session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID, *, for_update: bool = False
) -> WebhookEndpoint | None:
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organization_id == org
    )
    if for_update:
        # NO KEY UPDATE: does not wait for transactions that emitted events to this endpoint
        # (their deliveries' foreign keys hold KEY SHARE on it), nor they for us.
        stmt = stmt.with_for_update(key_share=True)
    return (await session.scalars(stmt)).first()


async def list_endpoints(
    session: AsyncSession, org: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == org)
    return await fetch_page(session, stmt, WebhookEndpoint.id, Sort(None, True), cursor, limit)


async def update_endpoint(
    session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> WebhookEndpoint | None:
    endpoint = await get_endpoint(session, org, endpoint_id, for_update=True)
    if endpoint is None:
        return None
    if changes.get("enabled") is True and not endpoint.enabled:
        # Re-enabled: a fresh start for the failure clock, and pending deliveries resume.
        changes = {**changes, "disabled_reason": None, "failing_since": None}
    if changes.get("enabled") is False and endpoint.enabled:
        changes = {**changes, "disabled_reason": "Disabled through the API."}
    for name, value in changes.items():
        setattr(endpoint, name, value)
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def delete_endpoint(session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.organization_id == org)
        .returning(WebhookEndpoint.id)
    )
    return result.first() is not None


async def rotate_secret(
    session: AsyncSession,
    org: uuid.UUID,
    endpoint_id: uuid.UUID,
    new_encrypted: str,
    previous_until: datetime,
) -> WebhookEndpoint | None:
    """The current secret becomes the previous one (signing too until `previous_until`);
    a secret rotated out earlier is dropped."""
    endpoint = await get_endpoint(session, org, endpoint_id, for_update=True)
    if endpoint is None:
        return None
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = previous_until
    endpoint.secret_encrypted = new_encrypted
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


# A delivery as the API shows it: the delivery, its event's type, and its attempts.
DeliveryView = tuple[WebhookDelivery, str, list[WebhookDeliveryAttempt]]


async def _views(
    session: AsyncSession, deliveries: Sequence[WebhookDelivery]
) -> list[DeliveryView]:
    """Two more queries for a whole page: the events' types and every attempt."""
    ids = [d.id for d in deliveries]
    if not ids:
        return []
    found_types = await session.execute(
        select(WebhookEvent.id, WebhookEvent.type).where(
            WebhookEvent.id.in_({d.event_id for d in deliveries})
        )
    )
    types = {event_id: type_ for event_id, type_ in found_types}
    attempts: dict[uuid.UUID, list[WebhookDeliveryAttempt]] = {i: [] for i in ids}
    found = await session.scalars(
        select(WebhookDeliveryAttempt)
        .where(WebhookDeliveryAttempt.delivery_id.in_(ids))
        .order_by(WebhookDeliveryAttempt.id)
    )
    for attempt in found:
        attempts[attempt.delivery_id].append(attempt)
    return [(d, types[d.event_id], attempts[d.id]) for d in deliveries]


def _deliveries(org: uuid.UUID, endpoint_id: uuid.UUID) -> Select[WebhookDelivery]:
    return select(WebhookDelivery).where(
        WebhookDelivery.organization_id == org, WebhookDelivery.endpoint_id == endpoint_id
    )


async def list_deliveries(
    session: AsyncSession,
    org: uuid.UUID,
    endpoint_id: uuid.UUID,
    status: DeliveryStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[DeliveryView], str | None]:
    """Newest first, each with every attempt."""
    stmt = _deliveries(org, endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    sort = by_time(WebhookDelivery.created_at, True)
    rows, next_cursor = await fetch_page(session, stmt, WebhookDelivery.id, sort, cursor, limit)
    return await _views(session, rows), next_cursor


async def get_delivery(
    session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryView | None:
    stmt = _deliveries(org, endpoint_id).where(WebhookDelivery.id == delivery_id)
    delivery = (await session.scalars(stmt)).first()
    if delivery is None:
        return None
    return (await _views(session, [delivery]))[0]


async def retry_delivery(
    session: AsyncSession,
    org: uuid.UUID,
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
    now: datetime,
) -> bool:
    """Due at once: a failed or succeeded delivery is sent again (one more attempt, then
    the schedule's remaining retries if any); a pending one is brought forward. A delivery in
    flight keeps its lease, so this never makes two workers send it at the same time."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.organization_id == org,
            WebhookDelivery.endpoint_id == endpoint_id,
        )
        .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, finished_at=None)
        .returning(WebhookDelivery.id)
    )
    return result.first() is not None
