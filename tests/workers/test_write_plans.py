"""The stats write's cost does not grow with the tables, whatever their statistics (issue 24,
item 1). Without autovacuum PostgreSQL keeps a plan made while a table was empty: the
foreign-key check from raw_answers to stats_snapshots, planned on an empty table, scanned the
whole table for every raw answer written afterwards. The worker's connections make their
plans again every DB_WRITER_REPLAN_SECONDS, for the tables as they are then."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db import _replan_every, create_engine
from app.repositories import provenance
from app.settings import Settings

GROWN = 20_000

_SNAPSHOTS = text(
    """
    INSERT INTO stats_snapshots (id, post_id, campaign_id, captured_at, views, likes,
                                 comments, source)
    OVERRIDING SYSTEM VALUE
    SELECT g, gen_random_uuid(), gen_random_uuid(), now(), 1, 0, 0, 'primary'
    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) g
    """
)
_SCANNED = text(
    "SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_xact_user_tables"
    " WHERE relname = 'stats_snapshots'"
)


BASE = 9_000_000_000_000_000  # far above any identity the other tests draw


@pytest.fixture
async def writer_engine(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The worker's engine, its plans made again at every transaction's start (the session
    `engine` fixture has migrated the database)."""
    own = create_engine(settings.model_copy(update={"db_writer_replan_seconds": 0}), writer=True)
    yield own
    await own.dispose()


async def _snapshots(engine: AsyncEngine, first: int, last: int) -> None:
    """Committed snapshot rows alone (no posts behind them: this test is about the raw
    answers' check), from another connection: the writer's cached plans stay as they are."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(_SNAPSHOTS, {"first": BASE + first, "last": BASE + last})


async def _store(conn: AsyncConnection, ids: range, now: datetime) -> int:
    """Stores one raw answer per statement, as many small batches do; returns how many
    snapshot rows PostgreSQL read sequentially meanwhile."""
    transaction = await conn.begin()
    try:
        session = AsyncSession(bind=conn)
        before = (await conn.execute(_SCANNED)).scalar_one()
        for i in ids:
            await provenance.store(session, [(BASE + i, now, b'{"views": 1}')])
        return int((await conn.execute(_SCANNED)).scalar_one() - before)
    finally:
        await transaction.rollback()


async def test_raw_answers_check_stays_a_key_lookup_as_snapshots_grow(
    engine: AsyncEngine, writer_engine: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    try:
        # Statistics that say the table is empty, as after a fresh deployment's first VACUUM
        # ANALYZE (or a seed's) with autovacuum off ever since.
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE stats_snapshots"))
        await _snapshots(engine, 1, 10)
        async with writer_engine.connect() as conn:
            # The write path's first answers while the table is tiny, in one transaction:
            # enough executions for PostgreSQL to settle on a cached plan.
            await _store(conn, range(1, 11), now)
            await _snapshots(engine, 11, 10 + GROWN)
            # The newest snapshots, as the writer's are: at the end of the table's heap.
            scanned = await _store(conn, range(GROWN - 39, GROWN + 11), now)
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM stats_snapshots WHERE id >= :base"), {"base": BASE}
            )
    # A key lookup per answer reads no row sequentially; the kept plan read the whole table
    # (GROWN rows) for each of the 50 answers.
    assert scanned < GROWN, f"{scanned} snapshot rows scanned for 50 raw answers"


def test_a_writer_connection_makes_its_plans_again_once_the_period_has_passed() -> None:
    """DISCARD PLANS at a transaction's start, at most once a period per connection, and not
    on a connection's first transaction (nothing is planned yet)."""
    times = iter([0.0, 5.0, 9.9, 10.0, 15.0, 19.9, 20.1, 20.2])
    begin = _replan_every(10, clock=lambda: next(times))
    sent: list[str] = []

    def connection() -> Any:
        return SimpleNamespace(connection=SimpleNamespace(info={}), exec_driver_sql=sent.append)

    one = connection()
    seen = []
    for _ in range(7):
        begin(one)
        seen.append(len(sent))
    assert seen == [0, 0, 0, 1, 1, 1, 2]
    assert sent == ["DISCARD PLANS"] * 2
    begin(connection())  # another connection keeps its own time: its first transaction
    assert len(sent) == 2
