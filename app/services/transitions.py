"""Status changes with everything that goes with them: the guarded UPDATE and its event
rows (repositories/transitions.py), and the webhook event of each change that landed, in the
same transaction. The API's actions, the payout batches and the worker's decisions all call
this; none brings a guard of its own (the writer applies app/domain/transitions.py's)."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.transitions import Landed, Transition, evidence_snapshots
from app.models import Post
from app.repositories import provenance, transitions
from app.services import post_presenter
from app.webhooks import outbox
from app.webhooks.events import EventType

_ENTERED = {
    PostStatus.FINALIZED: EventType.POST_FINALIZED,
    PostStatus.PENDING_CPM: EventType.POST_PENDING_CPM,
    PostStatus.REJECTED: EventType.POST_REJECTED,
    PostStatus.HELD: EventType.POST_HELD,
    PostStatus.PAID: EventType.POST_PAID,
}


def event_type(transition: Transition) -> EventType | None:
    if transition.from_status is PostStatus.REJECTED:
        return EventType.POST_RESTORED
    return _ENTERED.get(transition.to_status)


async def land(session: AsyncSession, changes: Sequence[Transition], now: datetime) -> list[Landed]:
    """Apply these changes and announce the ones that landed."""
    landed = await write(session, changes, now)
    await announce(session, changed(landed), now)
    return landed


async def write(
    session: AsyncSession, changes: Sequence[Transition], now: datetime
) -> list[Landed]:
    """Apply these changes and keep the raw answers their evidence names; announcing them is
    the caller's (`announce`, or `events` for a caller that writes all its events at once)."""
    landed = await transitions.apply(session, changes, now)
    await provenance.keep(session, evidence_snapshots(landed))
    return landed


def changed(landed: Sequence[Landed]) -> list[tuple[uuid.UUID, uuid.UUID, EventType | None]]:
    """(organization, post, webhook event) of each change that landed."""
    return [
        (item.organization_id, item.transition.post_id, event_type(item.transition))
        for item in landed
    ]


async def move(session: AsyncSession, change: Transition, now: datetime) -> Landed:
    """One change that must happen (a manual action on a post read FOR UPDATE): applied, or
    the writer's refusal raised (409 with the rule's code)."""
    landed = await land(session, [change], now)
    if not landed:
        raise (await transitions.refusals(session, [change]))[change.post_id]
    return landed[0]


async def created(session: AsyncSession, post: Post, actor_key_id: uuid.UUID | None) -> None:
    await transitions.created(session, post, actor_key_id)
    await announce(
        session, [(post.organization_id, post.id, EventType.POST_CREATED)], post.created_at
    )


async def announce(
    session: AsyncSession,
    changed: Sequence[tuple[uuid.UUID, uuid.UUID, EventType | None]],
    now: datetime,
) -> None:
    """The webhook events of these posts' changes, with each post as the API now shows it."""
    listening = await outbox.listening(session, {org for org, _, kind in changed if kind})
    await outbox.emit_many(session, await events(session, changed, listening), now=now)


async def events(
    session: AsyncSession,
    changed: Sequence[tuple[uuid.UUID, uuid.UUID, EventType | None]],
    listening: set[uuid.UUID],
) -> list[outbox.Event]:
    """The events of these changes, each post as the API now shows it. Only organizations
    with an endpoint listening (`outbox.listening`) pay for building them."""
    wanted = [c for c in changed if c[2] is not None and c[0] in listening]
    if not wanted:
        return []
    views = await post_presenter.present_ids(session, [post_id for _, post_id, _ in wanted])
    return [
        outbox.Event(org, kind, views[post_id])
        for org, post_id, kind in wanted
        if kind is not None and post_id in views
    ]
