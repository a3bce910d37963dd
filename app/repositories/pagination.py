"""Keyset pagination: the cursor carries the last row's (sort value, id), and the next page is
`WHERE (sort, id) > (value, id)`. With an index on (scope, sort, id) a page deep into a
million rows costs the same as the first; OFFSET would read and discard every row before it.

A cursor is bound to the query it came from: it also carries a digest of the statement
(filters, tenant, sort and direction, everything but the page's own position and size), and
a cursor presented with another statement is refused (InvalidCursor) instead of answering a
page of some other list. `limit` may change from page to page."""

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine.interfaces import Compiled
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.errors import InvalidCursor

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


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


def _uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(str(value))


def digest(*parts: Any) -> str:
    """What a cursor is bound to: a short hash of the list's query (SQL and parameters) or of
    any values that define a list. 12 bytes: a cursor is not a secret, only a check."""
    raw = json.dumps(parts, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode()


# The list statements' compiled forms by their SQLAlchemy cache key (the statement's shape,
# not its values): compiling a list's statement on every request was a tenth of the API's
# CPU per request (issue 24). A handful of shapes exist; the bound keeps it a cache.
_COMPILED: dict[Any, Compiled] = {}
_COMPILED_MAX = 500


def statement_digest(stmt: Select[*tuple[Any, ...]]) -> str:
    """The digest of the statement's SQL and parameter values, the same as compiling it
    afresh gives, from the compiled form of its shape when one was made before."""
    key = stmt._generate_cache_key()
    if key is None:  # a statement SQLAlchemy cannot cache: compile it
        fresh = stmt.compile(dialect=_DIALECT)
        return digest(str(fresh), sorted(fresh.params.items()))
    compiled: Compiled | None = _COMPILED.get(key.key)
    if compiled is None:
        compiled = stmt.compile(dialect=_DIALECT, cache_key=key)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key.key] = compiled
    params = compiled.construct_params(extracted_parameters=key.bindparams) or {}
    return digest(str(compiled), sorted(params.items()))


# The rows a page reads, written into its SQL: sent as `LIMIT $n`, PostgreSQL's generic plan
# for the prepared statement costs it as a tenth of the rows, judges itself dearer than a plan
# for the values, and so a list was planned anew on every request (~0.2 ms of PostgreSQL's
# CPU, more than running a first page took). A caller may ask for any size up to the API's
# largest, so a page reads the next of a few sizes (one row past the page at least, to know
# there is a next): a few statements per list for PostgreSQL and the driver to keep.
_FETCHED = (11, 26, 51, 101, 201)


def _fetched(limit: int) -> int:
    return next((n for n in _FETCHED if n > limit), limit + 1)


async def fetch_page(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[Any],
    sort: Sort,
    cursor: str | None,
    limit: int,
    *,
    parse_id: Callable[[Any], Any] = _uuid,
    resumable: bool = False,
) -> tuple[Sequence[Any], str | None]:
    """A page and the cursor of the next one: None on the last page, unless `resumable`
    (a feed), where the last page has a cursor too, to poll again with later (the one it
    was called with, if the page is empty)."""
    keys = [id_column] if sort.column is None else [sort.column, id_column]
    stmt = stmt.order_by(*(k.desc() if sort.descending else k.asc() for k in keys))
    bound_to = statement_digest(stmt)
    if cursor is not None:
        values = decode_cursor(cursor, len(keys), bound_to)
        try:
            parsed = [sort.parse(v) for v in values[:-1]] + [parse_id(values[-1])]
        except (TypeError, ValueError):
            raise InvalidCursor from None
        after = (
            tuple_(*keys) < tuple_(*parsed) if sort.descending else tuple_(*keys) > tuple_(*parsed)
        )
        stmt = stmt.where(after)
    # One thing selected (an entity): its objects. Several things: rows, and when all of
    # them are columns, plain rows that skip the ORM's identity map and attribute
    # instrumentation (the hot lists use these), run on the session's connection: the ORM's
    # execution would only set up its loading machinery to hand the same rows back. (What
    # the statement selects, read without `column_descriptions`, which builds the ORM's
    # compile state again on every call: ~5% of a list request's CPU.)
    selected = stmt._raw_columns
    stmt = stmt.limit(bindparam("page_size", _fetched(limit), Integer(), literal_execute=True))
    rows: Sequence[Any]
    if len(selected) == 1:
        rows = (await session.execute(stmt)).scalars().all()
    elif all(isinstance(c, ColumnElement) for c in selected):
        connection = await session.connection()
        rows = (await connection.execute(stmt)).all()
    else:
        rows = (await session.execute(stmt)).all()
    if len(rows) <= limit and not resumable:
        return rows, None
    if not rows:
        return rows, cursor
    rows = rows[:limit]
    last = rows[-1]
    values = [getattr(last, k.key) for k in keys]
    return rows, encode_cursor(values, bound_to)


def encode_cursor(values: list[Any], bound_to: str) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps([*plain, bound_to], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int, bound_to: str) -> list[Any]:
    """The cursor's position values; InvalidCursor if it is not one of ours, or was issued
    for another list (other filters, sort or organization)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError):
        values = None
    if not isinstance(values, list) or len(values) != size + 1:
        raise InvalidCursor
    if values[-1] != bound_to:
        raise InvalidCursor(mismatch=True)
    return values[:-1]
