"""The one call the rest of the app makes: `await emit(session, org, EventType.X, data)`.

The event row and one delivery row per subscribed, enabled endpoint are inserted in the
caller's session, so they commit or roll back with the change they report: a committed
change always has its event, a rolled-back one never. Fan-out happens here rather than in the
worker because the set of recipients is then fixed by the same snapshot as the change (an
endpoint created or disabled later does not receive it), the worker has a single queue to
claim from, and there is no "event written but not fanned out" state to recover.

emit never commits and never does I/O other than these inserts (two statements, three when
an endpoint is targeted directly), so it is safe inside the lifecycle's transition writer.
"""

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import WebhookEndpoint, WebhookEvent
from app.webhooks.events import EventType

Data = Mapping[str, Any] | BaseModel

# Every enabled endpoint of the event's organization that subscribes to its type (NULL
# event_types: all types), in one statement whatever the number of events or endpoints.
_FAN_OUT = text(
    """
    INSERT INTO webhook_deliveries
        (organization_id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
    SELECT e.organization_id, e.id, ep.id, 'pending', 0, e.created_at, e.created_at
    FROM webhook_events AS e
    JOIN webhook_endpoints AS ep ON ep.organization_id = e.organization_id
    WHERE e.id = ANY(:ids) AND ep.enabled
      AND (ep.event_types IS NULL OR e.type = ANY(ep.event_types))
    """
)

_TO_ONE = text(
    """
    INSERT INTO webhook_deliveries
        (organization_id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
    VALUES (:org, :event_id, :endpoint_id, 'pending', 0, :now, :now)
    RETURNING id
    """
)


def payload(type_: str, data: Data, timestamp: datetime) -> dict[str, Any]:
    """The body of every delivery: `data` is JSON as the API shows it (money as strings,
    times in ISO 8601, UUIDs as strings)."""
    if isinstance(data, BaseModel):
        body = data.model_dump(mode="json")
    else:
        body = to_jsonable_python(dict(data))
    return {"type": str(type_), "timestamp": timestamp.isoformat(), "data": body}


class Event(NamedTuple):
    """One event for `emit_many`; a batch may span organizations (the worker's batches do)."""

    organization_id: uuid.UUID
    type: EventType
    data: Data


async def listening(session: AsyncSession, organizations: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these organizations have an enabled endpoint: events of the others would be
    delivered to nobody (fan-out happens at emit time), so callers skip building them."""
    if not organizations:
        return set()
    rows = await session.scalars(
        select(WebhookEndpoint.organization_id)
        .where(WebhookEndpoint.organization_id.in_(organizations), WebhookEndpoint.enabled)
        .distinct()
    )
    return set(rows.all())


async def emit_many(
    session: AsyncSession, events: Iterable[Event], *, now: datetime | None = None
) -> list[uuid.UUID]:
    """Write several events at once, whatever their organizations: one INSERT for the
    events, one for all their deliveries. Returns the event ids in the order given (each is
    its deliveries' `webhook-id`)."""
    now = now or datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "organization_id": event.organization_id,
            "type": str(EventType(event.type)),
            "payload": payload(event.type, event.data, now),
            "created_at": now,
        }
        for event in events
    ]
    if not rows:
        return []
    await session.execute(insert(WebhookEvent), rows)
    ids: list[uuid.UUID] = [row["id"] for row in rows]
    await session.execute(_FAN_OUT, {"ids": ids})
    return ids


async def emit(
    session: AsyncSession,
    organization_id: uuid.UUID,
    type: EventType,
    data: Data,
    *,
    now: datetime | None = None,
) -> uuid.UUID:
    """Write one event in the caller's transaction; returns its id."""
    (event_id,) = await emit_many(session, [Event(organization_id, type, data)], now=now)
    return event_id


async def emit_to_endpoint(
    session: AsyncSession,
    organization_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    type_: str,
    data: Data,
    *,
    now: datetime | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """An event for one endpoint only, whatever it subscribes to (the `webhook.test` event).
    Returns (event id, delivery id)."""
    now = now or datetime.now(UTC)
    event_id = new_id()
    await session.execute(
        insert(WebhookEvent),
        [
            {
                "id": event_id,
                "organization_id": organization_id,
                "type": type_,
                "payload": payload(type_, data, now),
                "created_at": now,
            }
        ],
    )
    delivery_id = await session.scalar(
        _TO_ONE,
        {"org": organization_id, "event_id": event_id, "endpoint_id": endpoint_id, "now": now},
    )
    assert delivery_id is not None
    return event_id, delivery_id
