"""Statements written out once and run on the session's own driver connection, for the reads
every page makes (the navigation's counts, a filter's campaigns): building a statement, its
cache key and SQLAlchemy's result rows cost ~0.25-0.7 ms of CPU a statement on top of the
driver's round trip (~0.13 ms), more than these queries cost PostgreSQL (issue 26). Same
connection and transaction as the session's other statements; the answer is the driver's
records (read by column name).

A statement written out has a fixed shape. What it fixes itself (a status, a code, a LIMIT,
a constant IN list) is written into its SQL (`_inline`); what each call brings is a
parameter, made with no value (`bindparam(name, None, type_=...)`), a list as an array
compared with `= ANY`, never an IN, whose SQL would change with its length. Only constants
of the code carry values: a request's value given to a bindparam would be frozen into the
SQL of every later call."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ClauseElement

_DIALECT = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Written:
    sql: str
    names: tuple[str, ...]  # the parameters, in the order of their $n


def _inline(element: Any, **kw: Any) -> Any:
    """A parameter the statement gives a value itself (a status, a code, a bound), made a
    literal of its SQL: PostgreSQL then plans the prepared statement knowing it. Sent as a
    parameter, a generic plan must guess at it (`status = $2` as any status, `LIMIT $n` as a
    tenth of the rows), judges itself dearer than a plan for the values, and so PostgreSQL
    plans the statement anew on every execution (the inbox's counts: 0.48 ms of planning to
    0.21 of running, on every page). Parameters left without a value stay parameters."""
    if not isinstance(element, BindParameter):
        return None
    clone = element._clone()
    if element.value is not None:
        clone.literal_execute = True
    else:  # given at each fetch; none is needed to write the statement out
        clone.required = False
    return clone


def write_out(stmt: ClauseElement) -> Written:
    """`stmt` as the driver's SQL (made once: keep the result)."""
    inlined = cast(ClauseElement, visitors.replacement_traverse(stmt, {}, _inline))
    compiled = inlined.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    names = tuple(getattr(compiled, "positiontup", None) or ())
    return Written(str(compiled), names)


async def fetch(
    session: AsyncSession, written: Written, values: Mapping[str, Any]
) -> Sequence[Any]:
    """The statement's records, with `values` for its parameters (by name; every one)."""
    args = [values[n] for n in written.names]
    return await fetch_sql(session, written.sql, *args)


async def fetch_sql(session: AsyncSession, sql: str, *args: Any) -> Sequence[Any]:
    """The records of SQL written for the driver ($n parameters), on the session's connection."""
    connection = await session.connection()
    # The session's connection is checked out: its driver connection is at hand.
    driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    assert driver is not None
    return await driver.fetch(sql, *args)  # type: ignore[no-any-return]
