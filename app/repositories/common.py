import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.refresh import NewMark
from app.models import Organization, Post
from app.repositories import transitions

M = TypeVar("M")


async def lock_organization(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Locks the organization's row until the transaction ends (FOR NO KEY UPDATE: inserts
    that reference it are not blocked), so two requests that count what it owns before
    adding one cannot both see room for one more."""
    await session.execute(
        select(Organization.id)
        .where(Organization.id == organization_id)
        .with_for_update(key_share=True)
    )


async def get_owned(
    session: AsyncSession,
    model: type[M],
    organization_id: uuid.UUID,
    id_: uuid.UUID,
    *,
    for_update: bool = False,
) -> M | None:
    """A row of this organization, or None: another tenant's row is never told apart from
    one that does not exist."""
    table: Any = model
    stmt = select(model).where(table.id == id_, table.organization_id == organization_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt)).first()


async def save_changes(session: AsyncSession, row: M, changes: dict[str, Any]) -> M:
    """Set the changed fields, write them, and read back what the database set (updated_at)."""
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    await session.refresh(row)
    return row


async def delete_oldest(
    session: AsyncSession,
    key: InstrumentedAttribute[Any],
    when: InstrumentedAttribute[Any],
    before: datetime,
    batch: int,
    *conditions: ColumnElement[bool],
) -> int:
    """Delete up to `batch` rows of `key`'s table whose `when` is before `before` (and that
    meet `conditions`), oldest first, skipping rows another transaction holds. Returns how
    many; a pruning job calls it again while it returns `batch` (app.db.prune_in_batches)."""
    doomed = (
        select(key)
        .where(when < before, *conditions)
        .order_by(when)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(delete(key.class_).where(key.in_(doomed)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def insert_once_per_code(
    session: AsyncSession, model: Any, marks: Sequence[NewMark], now: datetime
) -> list[NewMark]:
    """Insert each mark unless its post already has one with that code (a hold or a flag is
    raised once per post and code, open or not). Returns the marks inserted now."""
    unique = list({(m.post_id, m.code): m for m in marks}.values())
    if not unique:
        return []
    inserted = await session.execute(
        insert(model)
        .values(
            [
                {
                    "organization_id": m.organization_id,
                    "post_id": m.post_id,
                    "code": m.code,
                    "reason": m.reason,
                    "evidence": m.evidence,
                    "raised_at": now,
                }
                for m in unique
            ]
        )
        .on_conflict_do_nothing(index_elements=["post_id", "code"])
        .returning(model.post_id, model.code)
    )
    keys = {(row.post_id, row.code) for row in inserted}
    return [m for m in unique if (m.post_id, m.code) in keys]


async def close_open_mark(
    session: AsyncSession,
    model: Any,
    post: Post,
    code: str,
    *,
    open_when: ColumnElement[bool],
    closing: dict[str, Any],
    post_change: dict[str, Any],
    event: str,
    note: str,
    actor_key_id: uuid.UUID | None,
    now: datetime,
) -> Any:
    """Close the post's open hold or flag with this code (the post is locked by the caller):
    the mark takes `closing`, the post `post_change`, and the post's history a note (`event`,
    "code: note"). None if the post has no such open mark."""
    mark = (
        await session.scalars(
            update(model)
            .where(model.post_id == post.id, model.code == code, open_when)
            .values(**closing)
            .returning(model)
        )
    ).first()
    if mark is None:
        return None
    await session.execute(update(Post).where(Post.id == post.id).values(**post_change))
    await transitions.note(
        session,
        [
            transitions.Note(
                post.id, post.organization_id, post.status, event, f"{code}: {note}", actor_key_id
            )
        ],
        now,
    )
    return mark
