"""The one writer of post status changes. The API's manual actions and the worker's deadline
decisions all come here: one guarded UPDATE per shape of change (a batch of any size in one
statement, through `unnest`), then the event rows for exactly the posts that UPDATE changed,
in the same transaction. The guard (the status the change was decided from, and optionally
the tier it was decided with) makes a repeated or concurrent change a no-op, so each
transition happens once, and no event is written without its transition or the reverse."""

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, bindparam, column, func, insert, update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.models import Post, PostEvent


@dataclass(frozen=True)
class Transition:
    post_id: uuid.UUID
    from_status: PostStatus  # the status the change was decided from: the guard
    to_status: PostStatus
    code: str  # the event's machine code
    reason: str | None = None
    actor_key_id: uuid.UUID | None = None  # None: the system (the worker)
    # Other columns of the post set with the change (never `status` or `updated_at`).
    values: Mapping[str, Any] = field(default_factory=dict)
    # Columns the change was computed from, with the values it saw: it lands only while the
    # post still has them (a tier assigned or a hold raised meanwhile must not be overwritten
    # by a decision made without it).
    expect: Mapping[str, Any] = field(default_factory=dict)
    # What a decision was made on (app.domain.evidence), stored with its event.
    evidence: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Landed:
    transition: Transition
    organization_id: uuid.UUID


_UUIDS = ARRAY(UUID(as_uuid=True))
_TEXTS = ARRAY(String)


async def apply(
    session: AsyncSession, transitions: Sequence[Transition], now: datetime
) -> list[Landed]:
    """Apply what still holds; returns the transitions that landed, with their posts'
    organizations. At most one transition per post in one call."""
    shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Transition]] = defaultdict(list)
    for t in transitions:
        shapes[(tuple(sorted(t.values)), tuple(sorted(t.expect)))].append(t)
    landed: list[Landed] = []
    for (keys, expected), group in shapes.items():
        landed += await _apply_shape(session, group, keys, expected, now)
    await record(session, landed, now)
    return landed


async def _apply_shape(
    session: AsyncSession,
    group: list[Transition],
    keys: tuple[str, ...],
    expected: tuple[str, ...],
    now: datetime,
) -> list[Landed]:
    table = Post.__table__
    # Posts in id order, the order every writer that locks several posts takes (the
    # campaign delete, the claim), so two of them cannot each wait for the other.
    group = sorted(group, key=lambda t: t.post_id)
    arrays: dict[str, tuple[Any, list[Any]]] = {
        "id": (_UUIDS, [t.post_id for t in group]),
        "from_status": (_TEXTS, [t.from_status.value for t in group]),
        "to_status": (_TEXTS, [t.to_status.value for t in group]),
    }
    for key in keys:
        arrays[key] = (ARRAY(table.c[key].type), [t.values[key] for t in group])
    for key in expected:
        arrays[f"was_{key}"] = (ARRAY(table.c[key].type), [t.expect[key] for t in group])
    u = (
        func.unnest(
            *(bindparam(f"u_{name}", values, type_=kind) for name, (kind, values) in arrays.items())
        )
        .table_valued(*(column(name) for name in arrays))
        .render_derived(name="u", with_types=False)
    )
    guards: list[ColumnElement[bool]] = [Post.id == u.c.id, Post.status == u.c.from_status]
    guards += [table.c[key].is_not_distinct_from(u.c[f"was_{key}"]) for key in expected]
    stmt = (
        update(Post)
        .where(*guards)
        .values(status=u.c.to_status, updated_at=now, **{key: u.c[key] for key in keys})
        .returning(Post.id, Post.organization_id)
    )
    orgs = {row.id: row.organization_id for row in await session.execute(stmt)}
    return [Landed(t, orgs[t.post_id]) for t in group if t.post_id in orgs]


async def created(session: AsyncSession, post: Post, actor_key_id: uuid.UUID | None) -> None:
    """A new post's first event: it enters `tracking` from nothing."""
    await _events(
        session,
        [
            {
                "organization_id": post.organization_id,
                "post_id": post.id,
                "from_status": None,
                "to_status": post.status,
                "code": "created",
                "reason": None,
                "actor_key_id": actor_key_id,
                "created_at": post.created_at,
                "evidence": None,
            }
        ],
    )


async def record(session: AsyncSession, landed: Sequence[Landed], now: datetime) -> None:
    """The event rows of the transitions that landed."""
    await _events(
        session,
        [
            {
                "organization_id": item.organization_id,
                "post_id": item.transition.post_id,
                "from_status": item.transition.from_status,
                "to_status": item.transition.to_status,
                "code": item.transition.code,
                "reason": item.transition.reason,
                "actor_key_id": item.transition.actor_key_id,
                "created_at": now,
                "evidence": item.transition.evidence,
            }
            for item in landed
        ],
    )


@dataclass(frozen=True)
class Note:
    """An event that changes no status (a hold raised or cleared): from and to are the
    status the post has."""

    post_id: uuid.UUID
    organization_id: uuid.UUID
    status: PostStatus
    code: str
    reason: str | None = None
    actor_key_id: uuid.UUID | None = None
    evidence: Mapping[str, Any] | None = None


async def note(session: AsyncSession, notes: Sequence[Note], now: datetime) -> None:
    await _events(
        session,
        [
            {
                "organization_id": n.organization_id,
                "post_id": n.post_id,
                "from_status": n.status,
                "to_status": n.status,
                "code": n.code,
                "reason": n.reason,
                "actor_key_id": n.actor_key_id,
                "created_at": now,
                "evidence": n.evidence,
            }
            for n in notes
        ],
    )


async def _events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(PostEvent), rows)
