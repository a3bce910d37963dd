"""Holds on posts. Raising and clearing a hold also moves the post's `open_holds` count in
the same transaction (the count guards deadline decisions) and records an event."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ARRAY, Integer, bindparam, column, func, select, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.refresh import NewMark
from app.models import Post, PostHold
from app.repositories import transitions
from app.repositories.common import close_open_mark, insert_once_per_code

NewHold = NewMark


async def raise_many(
    session: AsyncSession, holds: Sequence[NewHold], now: datetime
) -> list[NewHold]:
    """Raise each hold unless the post already had one with that code (open or cleared: a
    person who cleared it has decided). Returns the holds raised now."""
    raised = await insert_once_per_code(session, PostHold, holds, now)
    if not raised:
        return []
    per_post: dict[uuid.UUID, int] = defaultdict(int)
    for h in raised:
        per_post[h.post_id] += 1
    ids = sorted(per_post)
    counts = (
        func.unnest(
            bindparam("ids", ids, type_=ARRAY(UUID(as_uuid=True))),
            bindparam("ns", [per_post[i] for i in ids], type_=ARRAY(Integer)),
        )
        .table_valued(column("id"), column("n"))
        .render_derived(name="c", with_types=False)
    )
    statuses = dict(
        (
            await session.execute(
                update(Post)
                .where(Post.id == counts.c.id)
                .values(open_holds=Post.open_holds + counts.c.n)
                .returning(Post.id, Post.status)
            )
        ).all()
    )
    await transitions.note(
        session,
        [
            transitions.Note(
                h.post_id,
                h.organization_id,
                statuses[h.post_id],
                "hold_raised",
                f"{h.code}: {h.reason}",
            )
            for h in raised
            if h.post_id in statuses
        ],
        now,
    )
    return raised


async def open_for(
    session: AsyncSession, post_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PostHold]]:
    """The open holds of these posts, oldest first."""
    if not post_ids:
        return {}
    rows = await session.scalars(
        select(PostHold)
        .where(PostHold.post_id.in_(post_ids), PostHold.cleared_at.is_(None))
        .order_by(PostHold.post_id, PostHold.id)
    )
    found: dict[uuid.UUID, list[PostHold]] = defaultdict(list)
    for hold in rows:
        found[hold.post_id].append(hold)
    return found


async def clear(
    session: AsyncSession,
    post: Post,
    code: str,
    actor_key_id: uuid.UUID | None,
    reason: str,
    now: datetime,
) -> PostHold | None:
    """Clear the post's open hold with this code (the post is locked by the caller); None if
    it has none. The post's count goes down with it."""
    hold: PostHold | None = await close_open_mark(
        session,
        PostHold,
        post,
        code,
        open_when=PostHold.cleared_at.is_(None),
        closing={"cleared_at": now, "cleared_by_key_id": actor_key_id, "clear_reason": reason},
        post_change={"open_holds": Post.open_holds - 1},
        event="hold_cleared",
        note=reason,
        actor_key_id=actor_key_id,
        now=now,
    )
    return hold
