"""The one writer of post status changes. The API's manual actions, the payout batches and the
worker's deadline decisions all come here: one statement per shape of change (a batch of any
size, through `unnest`) whose guarded UPDATE changes the posts and whose INSERT writes the
event rows of exactly the posts that UPDATE changed. The guard is the writer's own: the
status the change was decided from, and the condition app/domain/transitions.py's table sets
for that (from, to) (no open hold, no other open payout batch, ...), so a repeated or
concurrent change is a no-op, each transition happens once, and no event is written
without its transition or the reverse. `refusals()` says, with the same table's Python
twin, why a change did not land."""

import functools
import json
import typing
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Insert,
    ScalarSelect,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import transitions as table
from app.domain.enums import PayoutStatus, PostStatus
from app.domain.lifecycle import TransitionError
from app.domain.transitions import Landed, Transition
from app.models import Payout, PayoutLine, Post, PostEvent

_UUIDS = ARRAY(UUID(as_uuid=True))
_TEXTS = ARRAY(Text)


async def apply(
    session: AsyncSession,
    transitions: Sequence[Transition],
    now: datetime,
    *,
    locked: bool = False,
) -> list[Landed]:
    """Apply what still holds; returns the transitions that landed, with their posts'
    organizations. At most one transition per post in one call. `locked`: the caller's
    transaction already holds these posts, taken in id order (the refresh writer's read)."""
    if len(transitions) > 1 and not locked:
        # Posts in id order, the order every writer that locks several posts takes (the
        # campaign delete, the claim, the refresh writer), so two of them cannot each wait
        # for the other. The shapes' UPDATEs below lock in their own order: shape by shape,
        # each in whatever order its plan joins the posts.
        ids = sorted({t.post_id for t in transitions})
        await session.execute(
            select(Post.id)
            .where(Post.id == any_(bindparam("ids", ids, type_=_UUIDS)))
            .order_by(Post.id)
            .with_for_update(key_share=True)
        )
    shapes: dict[Shape, list[Transition]] = defaultdict(list)
    for t in transitions:
        shape = (t.from_status, t.to_status, tuple(sorted(t.values)), tuple(sorted(t.expect)))
        shapes[shape].append(t)
    landed: list[Landed] = []
    for shape, group in shapes.items():
        landed += await _apply_shape(session, group, shape, now)
    return landed


Shape = tuple[PostStatus, PostStatus, tuple[str, ...], tuple[str, ...]]


def _open_payout_line() -> Select[uuid.UUID]:
    """A post's line in an open payout batch (the database keeps it in at most one)."""
    return (
        select(PayoutLine.payout_id)
        .join(Payout, Payout.id == PayoutLine.payout_id)
        .where(
            PayoutLine.post_id == Post.id,
            PayoutLine.released.is_(False),
            Payout.status == PayoutStatus.OPEN,
        )
    )


def _open_payout_id() -> ScalarSelect[uuid.UUID]:
    """The open payout batch a post is in."""
    return _open_payout_line().limit(1).scalar_subquery()


def payable_by_a_new_batch() -> ColumnElement[bool]:
    """Posts a payout batch being made now could pay: the guard of (finalized, paid) as the
    writer applies it, for a batch that does not exist yet. What is ready to pay is exactly
    what a batch's mark-paid will accept, whatever guards that change gains."""
    state = table.StateSql(
        Post.status,
        Post.open_holds,
        _open_payout_id(),
        null(),
        in_no_open_payout=~_open_payout_line().exists(),
    )
    return table.allowed_sql(PostStatus.FINALIZED, PostStatus.PAID, state)


# The event rows' table itself: its statement's values are bound at execution, which the
# ORM would read as rows of a bulk INSERT.
_EVENTS = typing.cast(Table, PostEvent.__table__)

# The arrays every shape's statement reads, beside the shape's own columns: the posts, the
# payout batch each is paid through, and the event's own fields, written by the same
# statement for exactly the rows changed.
_COMMON: dict[str, tuple[Any, Callable[[Transition], Any]]] = {
    "id": (_UUIDS, lambda t: t.post_id),
    "payout_id": (_UUIDS, lambda t: t.payout_id),
    "event_code": (_TEXTS, lambda t: t.code),
    "event_reason": (_TEXTS, lambda t: t.reason),
    "event_actor": (_UUIDS, lambda t: t.actor_key_id),
    # As the JSONB column's own bind would write it (None is JSON null).
    "event_evidence": (_TEXTS, lambda t: json.dumps(t.evidence)),
}


async def _apply_shape(
    session: AsyncSession, group: list[Transition], shape: Shape, now: datetime
) -> list[Landed]:
    from_status, to_status, keys, expected = shape
    if (from_status, to_status) not in table.GUARDS:
        return []  # the lifecycle has no such change
    group = sorted(group, key=lambda t: t.post_id)
    params: dict[str, Any] = {"now": now}
    params |= {f"u_{name}": [get(t) for t in group] for name, (_, get) in _COMMON.items()}
    params |= {f"u_{key}": [t.values[key] for t in group] for key in keys}
    params |= {f"u_was_{key}": [t.expect[key] for t in group] for key in expected}
    rows = await session.execute(_statement(shape), params)
    orgs = {row.post_id: row.organization_id for row in rows}
    return [Landed(t, orgs[t.post_id]) for t in group if t.post_id in orgs]


@functools.cache
def _statement(shape: Shape) -> Insert:
    """A shape's one statement, built once per process (its values are bound at execution).
    Built for every write, it was most of the transition writer's CPU, and the writer 5.2%
    of the paced benchmark's samples against 11.1% for the whole result write (issue 24)."""
    from_status, to_status, keys, expected = shape
    columns = Post.__table__.c
    kinds = {name: kind for name, (kind, _) in _COMMON.items()}
    kinds |= {key: ARRAY(columns[key].type) for key in keys}
    kinds |= {f"was_{key}": ARRAY(columns[key].type) for key in expected}
    u = (
        func.unnest(*(bindparam(f"u_{name}", type_=kind) for name, kind in kinds.items()))
        .table_valued(*(column(name) for name in kinds))
        .render_derived(name="u", with_types=False)
    )
    now = bindparam("now", type_=columns.updated_at.type)
    state = table.StateSql(Post.status, Post.open_holds, _open_payout_id(), u.c.payout_id)
    guards: list[ColumnElement[bool]] = [
        Post.id == u.c.id,
        table.allowed_sql(from_status, to_status, state),
    ]
    guards += [columns[key].is_not_distinct_from(u.c[f"was_{key}"]) for key in expected]
    changed = (
        update(Post)
        .where(*guards)
        .values(status=to_status.value, updated_at=now, **{key: u.c[key] for key in keys})
        .returning(Post.id, Post.organization_id)
        .cte("changed")
    )
    # One statement changes the posts and writes the events of exactly the rows it changed:
    # no event without its transition, nor the reverse, and one round trip per shape.
    events = _EVENTS.c
    return (
        insert(_EVENTS)
        .from_select(
            [
                "organization_id",
                "post_id",
                "from_status",
                "to_status",
                "code",
                "reason",
                "actor_key_id",
                "created_at",
                "evidence",
            ],
            select(
                changed.c.organization_id,
                changed.c.id,
                literal(from_status, events.from_status.type),
                literal(to_status, events.to_status.type),
                u.c.event_code,
                u.c.event_reason,
                u.c.event_actor,
                now,
                cast(u.c.event_evidence, JSONB),
            )
            .join_from(changed, u, u.c.id == changed.c.id)
            .order_by(changed.c.id),
        )
        .add_cte(changed)
        .returning(PostEvent.post_id, PostEvent.organization_id)
    )


async def refusals(
    session: AsyncSession, refused: Sequence[Transition]
) -> dict[uuid.UUID, TransitionError]:
    """Why each of these changes did not land, read from the posts as they are now, with the
    table's Python twin of the guard the UPDATE applied. A post that is gone is absent."""
    if not refused:
        return {}
    rows = await session.execute(
        select(Post.id, Post.status, Post.open_holds, _open_payout_id().label("payout")).where(
            Post.id.in_([t.post_id for t in refused])
        )
    )
    states = {r.id: table.PostState(r.status, r.open_holds, r.payout) for r in rows}
    why: dict[uuid.UUID, TransitionError] = {}
    for t in refused:
        if (state := states.get(t.post_id)) is None:
            continue
        error = table.refusal(t.from_status, t.to_status, state, t.payout_id)
        # Allowed now, yet it did not land: what it was computed from changed meanwhile.
        why[t.post_id] = error or TransitionError(
            "post_changed", "The post changed while this was decided; try again."
        )
    return why


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
                "reason": None if post.watched_account_id is None else post.source,
                "actor_key_id": actor_key_id,
                "created_at": post.created_at,
                "evidence": None
                if post.watched_account_id is None
                else {"source": post.source, "watched_account_id": str(post.watched_account_id)},
            }
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
