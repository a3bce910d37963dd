"""The audit log: append and read."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent
from app.repositories.pagination import Sort, fetch_page


async def record(
    session: AsyncSession,
    organization_id: uuid.UUID,
    action: str,
    resource_type: str,
    resource_id: object | None,
    *,
    actor_key_id: uuid.UUID | None = None,
    actor_user_id: uuid.UUID | None = None,
    client_address: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            organization_id=organization_id,
            action=action,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id)[:64],
            actor_key_id=actor_key_id,
            actor_user_id=actor_user_id,
            client_address=client_address[:64],
            details=details or {},
        )
    )
    await session.flush()


async def list_page(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    action: str | None,
    resource_type: str | None,
    resource_id: str | None,
    actor_key_id: uuid.UUID | None,
    actor_user_id: uuid.UUID | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[AuditEvent], str | None]:
    """Newest first."""
    stmt = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if resource_type is not None:
        stmt = stmt.where(AuditEvent.resource_type == resource_type)
    if resource_id is not None:
        stmt = stmt.where(AuditEvent.resource_id == resource_id)
    if actor_key_id is not None:
        stmt = stmt.where(AuditEvent.actor_key_id == actor_key_id)
    if actor_user_id is not None:
        stmt = stmt.where(AuditEvent.actor_user_id == actor_user_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    return await fetch_page(session, stmt, AuditEvent.id, Sort(None, True), cursor, limit)
