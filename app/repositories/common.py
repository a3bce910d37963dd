import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M")


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
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    await session.refresh(row)
    return row
