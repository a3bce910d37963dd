"""Keyset pagination: the cursor carries the last row's (sort value, id), and the next page is
`WHERE (sort, id) > (value, id)`. With an index on (scope, sort, id) a page deep into a
million rows costs the same as the first; OFFSET would read and discard every row before it."""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.errors import InvalidCursor


@dataclass(frozen=True)
class Sort:
    """Order by `column` then id; with no column, by id alone (UUIDv7 ids are creation order)."""

    column: InstrumentedAttribute[Any] | None
    descending: bool
    parse: Callable[[Any], Any] = lambda value: value


def by_time(column: InstrumentedAttribute[Any], descending: bool) -> Sort:
    return Sort(column, descending, datetime.fromisoformat)


def by_int(column: InstrumentedAttribute[Any], descending: bool) -> Sort:
    return Sort(column, descending, int)


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[uuid.UUID] | InstrumentedAttribute[int],
    sort: Sort,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Any], str | None]:
    keys = [id_column] if sort.column is None else [sort.column, id_column]
    if cursor is not None:
        values = decode_cursor(cursor, len(keys))
        try:
            parsed = [sort.parse(v) for v in values[:-1]] + [_id(id_column, values[-1])]
        except (TypeError, ValueError):
            raise InvalidCursor from None
        after = (
            tuple_(*keys) < tuple_(*parsed) if sort.descending else tuple_(*keys) > tuple_(*parsed)
        )
        stmt = stmt.where(after)
    stmt = stmt.order_by(*(k.desc() if sort.descending else k.asc() for k in keys))
    result = await session.execute(stmt.limit(limit + 1))
    # One thing selected (an entity): its objects. Several columns: plain rows, which skip
    # the ORM's identity map and attribute instrumentation (the hot lists use these).
    rows = result.all() if len(stmt.column_descriptions) > 1 else result.scalars().all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    values = [getattr(last, k.key) for k in keys]
    return rows, encode_cursor([v.isoformat() if isinstance(v, datetime) else v for v in values])


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidCursor
    return values


def _id(column: InstrumentedAttribute[Any], value: Any) -> Any:
    """A cursor's id as its column holds it: a UUID, or an identity integer."""
    if column.type.python_type is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an integer id")
        return value
    return uuid.UUID(str(value))
