"""Engine, sessions and the one MetaData every table hangs off."""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.settings import DatabasePooler, Settings

# PostgreSQL's own naming style, so constraint names in errors and migrations are predictable.
NAMING_CONVENTION = {
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def create_engine(settings: Settings, *, writer: bool = False) -> AsyncEngine:
    """`writer`: the worker's engine, whose plans are made again now and then
    (`_replan_every`)."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        # No pre-ping (a round trip per checkout): after a PostgreSQL restart the first
        # request on a dead connection fails (503, retryable) and invalidates the whole pool.
        pool_recycle=1800,
        # A failed statement's message (which ends up in logs) shows its SQL, never its
        # parameters: those are tenants' data (post ids, views, handles).
        hide_parameters=True,
        # Timestamps render and truncate (date_trunc, ::date) in UTC whatever the server's
        # own time zone setting is; idle transactions end (see server_settings).
        connect_args=connect_args(settings),
    )
    if settings.database_pooler is DatabasePooler.PGBOUNCER:
        local = transaction_settings(settings)
        if local:
            event.listen(engine.sync_engine, "begin", _set_local(local))
    if writer:
        event.listen(engine.sync_engine, "begin", _replan_every(settings.db_writer_replan_seconds))
    return engine


def behind_pgbouncer(settings: Settings) -> bool:
    return settings.database_pooler is DatabasePooler.PGBOUNCER


def connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connection arguments. Behind PgBouncer in transaction mode (DATABASE_POOLER
    =pgbouncer) a client connection gets some server connection for each transaction, or
    for each statement outside one, so:
    - nothing is prepared on a server connection to be used later: with its statement cache
      off, asyncpg prepares every statement unnamed and sends it again (Parse) with each
      execution, in the same message as its Bind and Execute, so the statement, its
      parameters and its run always meet on one server connection, and nothing piles up
      there (named statements would: "prepared statement ... does not exist" on the next
      server connection, or "already exists" where another client's name met it);
      SQLAlchemy's cache of asyncpg's statements keeps only their query and types on the
      client (it spares a round trip per statement);
    - the only startup setting is the time zone, which PgBouncer tracks per client and
      restores on whichever server connection it hands out (it refuses startup settings it
      does not track); the others are set for each transaction (`transaction_settings`).
    The service relies on no other session state: no advisory lock, session-level SET,
    temporary table or LISTEN (README "Behind PgBouncer")."""
    if not behind_pgbouncer(settings):
        return {"server_settings": server_settings(settings)}
    return {"server_settings": {"timezone": "UTC"}, "statement_cache_size": 0}


def transaction_settings(settings: Settings) -> dict[str, str]:
    """Behind PgBouncer: the session settings other than the time zone, set with SET LOCAL
    semantics (`set_config(..., true)`) at the start of every transaction, one statement.
    Not for the API's reads, which run outside transactions (AUTOCOMMIT): none of these
    settings concerns a statement alone."""
    return {k: v for k, v in server_settings(settings).items() if k != "timezone"}


def _set_local(values: dict[str, str]) -> Callable[[Connection], None]:
    calls = ", ".join(f"set_config('{name}', '{value}', true)" for name, value in values.items())
    statement = f"SELECT {calls}"

    def begin(connection: Connection) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql(statement)

    return begin


def server_settings(settings: Settings) -> dict[str, str]:
    """Session settings of every connection the service opens. A transaction left idle
    (a bug, a hung call inside it) is ended by the server after the timeout: it would
    otherwise hold row locks, a pool connection and the change feed's horizon."""
    values = {"timezone": "UTC"}
    if settings.db_idle_in_transaction_timeout_seconds > 0:
        ms = max(1, round(settings.db_idle_in_transaction_timeout_seconds * 1000))
        values["idle_in_transaction_session_timeout"] = str(ms)
    return values


def _replan_every(
    seconds: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[Connection], None]:
    """The worker's connections (`writer`), which write stats for hours on end, drop their
    cached plans at the start of a transaction once `seconds` have passed since they last
    did, so every plan is made again for the tables as they are now. PostgreSQL settles on
    a generic plan after five executions and keeps it until the table's statistics change,
    which without autovacuum (or with it behind) is never: the foreign-key check from
    raw_answers to stats_snapshots, planned while the table was empty, kept scanning the
    whole table for every raw answer, and the stats write slowed as the table grew.
    Planning every statement instead (`plan_cache_mode = force_custom_plan`, until
    2026-12-07) also plans every foreign-key check of every row written, each against all of
    its table's indexes (22 on posts): a quarter of PostgreSQL's CPU in the pipeline
    benchmark (issue 24). Behind PgBouncer this reaches the server connection the
    transaction runs on; PgBouncer's `server_lifetime` bounds the others. DISCARD PLANS
    takes the transaction's snapshot: a writer transaction that has to start with `SET
    TRANSACTION` cannot come through here."""

    def begin(connection: Connection) -> None:
        info = connection.connection.info  # the pooled connection's, across checkouts
        now = clock()
        if now - info.setdefault("planned_at", now) >= seconds:
            connection.exec_driver_sql("DISCARD PLANS")
            info["planned_at"] = now

    return begin


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit if the body finished, roll back if it raised."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def describe_database_error(exc: BaseException) -> str:
    """What a failed statement may say in a log: the driver's error class, the SQLSTATE and
    the constraint, never the message. asyncpg's messages carry DETAIL lines with the row's
    values (`Key (...)=(...)`) and SQLAlchemy's carry the statement's parameters: tenants'
    data that does not belong in logs."""
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None) or orig
    parts = [type(cause if cause is not None else exc).__name__]
    sqlstate = getattr(cause, "sqlstate", None) or getattr(orig, "sqlstate", None)
    if sqlstate:
        parts.append(f"sqlstate={sqlstate}")
    constraint = getattr(cause, "constraint_name", None)
    if constraint:
        parts.append(f"constraint={constraint}")
    return " ".join(parts)


def refuses_the_data(exc: BaseException) -> bool:
    """The database refused these values (SQLSTATE class 22, data exceptions: out of range,
    invalid text, NUL; class 23, integrity), or asyncpg refused to encode one: trying again
    changes nothing, unlike an outage. With asyncpg, SQLAlchemy reports all of these as a
    plain DBAPIError, so its class alone cannot tell them apart."""
    if not isinstance(exc, DBAPIError):
        return False
    cause = getattr(exc.orig, "__cause__", None)
    sqlstate = str(getattr(cause, "sqlstate", None) or getattr(exc.orig, "sqlstate", None) or "")
    return sqlstate.startswith(("22", "23")) or isinstance(cause, ValueError)


async def prune_in_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    prune: Callable[[AsyncSession, datetime, int], Awaitable[int]],
    before: datetime,
    batch: int,
) -> int:
    """Call `prune(session, before, batch)` until it deletes less than a batch, each batch
    its own transaction (short locks). Returns how many rows went."""
    pruned = 0
    while True:
        async with session_scope(sessionmaker) as session:
            deleted = await prune(session, before, batch)
        pruned += deleted
        if deleted < batch:
            return pruned
