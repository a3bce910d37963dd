"""Integrity flags on posts. Raising and resolving a flag also moves the post's `flags` codes
in the same transaction (lists filter and analytics count on them) and records an event."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import integrity
from app.domain.enums import PostStatus
from app.domain.integrity import Observed
from app.domain.refresh import NewMark
from app.models import Post, PostFlag, StatsSnapshot
from app.repositories import transitions
from app.repositories.common import close_open_mark, insert_once_per_code
from app.repositories.pagination import Sort, fetch_page

_ADD_CODES = text(
    """
    UPDATE posts p SET flags = p.flags || n.codes
    FROM (SELECT id, array_agg(code ORDER BY code) AS codes
          FROM unnest(CAST(:ids AS uuid[]), CAST(:codes AS text[])) AS u(id, code)
          GROUP BY id) AS n
    WHERE p.id = n.id
    RETURNING p.id, p.status
    """
)


NewFlag = NewMark


async def raise_many(
    session: AsyncSession, flags: Sequence[NewFlag], now: datetime
) -> list[NewFlag]:
    """Raise each flag unless the post already had one with that code (open or resolved: a
    person who resolved it has judged it). Returns the flags raised now."""
    raised = await insert_once_per_code(session, PostFlag, flags, now)
    if not raised:
        return []
    statuses: dict[uuid.UUID, PostStatus] = dict(
        (
            await session.execute(
                _ADD_CODES,
                {"ids": [f.post_id for f in raised], "codes": [f.code for f in raised]},
            )
        ).all()
    )
    await transitions.note(
        session,
        [
            transitions.Note(
                f.post_id,
                f.organization_id,
                statuses[f.post_id],
                "flag_raised",
                f"{f.code}: {f.reason}",
                evidence=f.evidence,
            )
            for f in raised
            if statuses.get(f.post_id) is not None
        ],
        now,
    )
    return raised


async def spike_bases(
    session: AsyncSession, post_ids: Sequence[uuid.UUID], since: datetime, until: datetime
) -> dict[uuid.UUID, Observed]:
    """Each post's smallest count above zero seen in [since, until): what a spike grew from."""
    if not post_ids:
        return {}
    s = StatsSnapshot
    rows = await session.execute(
        select(s.post_id, s.id, s.views, s.captured_at)
        .ext(distinct_on(s.post_id))
        .where(
            s.post_id.in_(list(post_ids)),
            s.applied,
            integrity.in_spike_base_sql(s.views, s.captured_at, since, until),
        )
        .order_by(s.post_id, *integrity.spike_base_order_sql(s.views, s.captured_at))
    )
    return {row.post_id: Observed(row.id, row.views, row.captured_at) for row in rows}


async def page(
    session: AsyncSession, post_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[PostFlag], str | None]:
    """Oldest first."""
    stmt = select(PostFlag).where(PostFlag.post_id == post_id)
    return await fetch_page(
        session, stmt, PostFlag.id, Sort(None, False), cursor, limit, parse_id=int
    )


async def for_post(session: AsyncSession, post_id: uuid.UUID) -> Sequence[PostFlag]:
    """A post's flags, open and resolved, oldest first."""
    return (
        await session.scalars(
            select(PostFlag).where(PostFlag.post_id == post_id).order_by(PostFlag.id)
        )
    ).all()


async def resolve(
    session: AsyncSession,
    post: Post,
    code: str,
    actor_key_id: uuid.UUID | None,
    note: str,
    now: datetime,
) -> PostFlag | None:
    """Resolve the post's open flag with this code (the post is locked by the caller); None
    if it has none."""
    flag: PostFlag | None = await close_open_mark(
        session,
        PostFlag,
        post,
        code,
        open_when=PostFlag.resolved_at.is_(None),
        closing={"resolved_at": now, "resolved_by_key_id": actor_key_id, "resolution_note": note},
        post_change={"flags": func.array_remove(Post.flags, code)},
        event="flag_resolved",
        note=note,
        actor_key_id=actor_key_id,
        now=now,
    )
    return flag
