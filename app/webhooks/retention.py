"""Pruning the outbox: the worker's hourly job deletes events that are done with and older than
WEBHOOK_EVENT_RETENTION_DAYS, with their deliveries and attempts (ON DELETE CASCADE).

An event is done with when none of its deliveries is pending (due, in flight, or waiting for
a disabled endpoint to be enabled again) and none finished within the retention (a manual
retry of an old event keeps it, and its attempts, for another full period). An event with
no deliveries at all (its endpoints deleted, or nobody listening when it was emitted) is done
with too. An undelivered event is never pruned, however old.
"""

from datetime import datetime

from sqlalchemy import exists, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import prune_in_batches
from app.domain.enums import DeliveryStatus
from app.models import WebhookDelivery, WebhookEvent
from app.repositories.common import delete_oldest

PRUNE_BATCH = 1000


async def prune_batch(session: AsyncSession, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Deletes up to `batch` done-with events created before `before`, oldest first (the
    created_at index). Returns how many were deleted."""
    busy = exists().where(
        WebhookDelivery.event_id == WebhookEvent.id,
        or_(
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
            WebhookDelivery.finished_at >= before,
        ),
    )
    return await delete_oldest(
        session, WebhookEvent.id, WebhookEvent.created_at, before, batch, ~busy
    )


async def prune(
    sessionmaker: async_sessionmaker[AsyncSession], before: datetime, batch: int = PRUNE_BATCH
) -> int:
    """Every done-with event created before `before`, one transaction per batch."""
    return await prune_in_batches(sessionmaker, prune_batch, before, batch)
