import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import not_found

M = TypeVar("M")


async def get_owned(
    session: AsyncSession,
    model: type[M],
    organization_id: uuid.UUID,
    id_: uuid.UUID,
    resource: str,
    *,
    for_update: bool = False,
) -> M:
    """A row of this organization, or a 404 — another tenant's row is never told apart from
    one that does not exist."""
    table: Any = model
    stmt = select(model).where(table.id == id_, table.organization_id == organization_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    if row is None:
        raise not_found(resource)
    return row


async def save_changes(session: AsyncSession, row: M, changes: dict[str, Any]) -> M:
    """Set the changed fields, write them, and read back what the database set (updated_at)."""
    for field, value in changes.items():
        setattr(row, field, value)
    await session.flush()
    await session.refresh(row)
    return row
