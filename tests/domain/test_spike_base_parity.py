"""The spike base rule (app/domain/integrity.py) in Python and in SQL agree: which applied
snapshots may be the base a view spike grew from, at every edge of its window and at zero
views. PostgreSQL evaluates the expression; the Python function is the reference."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, DateTime, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain import integrity

PARITY = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
SINCE = datetime(2026, 3, 28, 12, tzinfo=UTC)  # a window across a daylight saving change
WINDOW = timedelta(hours=24)


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SET TIME ZONE 'Europe/Berlin'")
        yield connection


offsets = st.one_of(
    st.integers(-3_600_000_000, 3_600_000_000).map(lambda us: timedelta(microseconds=us)),
    st.integers(-3, 3).map(lambda d: timedelta(days=d)),
)


@PARITY
@given(views=st.integers(-1, 2**63 - 1), offset=offsets, at_end=st.booleans())
@example(views=1, offset=timedelta(0), at_end=False)  # at `since`: inside
@example(views=1, offset=timedelta(0), at_end=True)  # at `until`: outside
@example(views=0, offset=timedelta(hours=1), at_end=False)  # no views: never a base
async def test_in_spike_base_agrees(
    conn: AsyncConnection, views: int, offset: timedelta, at_end: bool
) -> None:
    until = SINCE + WINDOW
    captured_at = (until if at_end else SINCE) + offset
    expected = integrity.in_spike_base(views, captured_at, SINCE, until)
    sql = integrity.in_spike_base_sql(
        literal(views, BigInteger), literal(captured_at, DateTime(timezone=True)), SINCE, until
    )
    assert await conn.scalar(select(sql)) is expected
