"""Each rule that a query needs exists twice, in Python and as a SQLAlchemy expression
(app/domain). These tests generate inputs around every edge and check that PostgreSQL,
evaluating the expression, answers exactly what the Python function answers. The session's
time zone is one with daylight saving time, so a rule that counted calendar days in SQL
would drift by an hour across a DST change and fail here."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, DateTime, Integer, Numeric, String, literal, null, select
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain import campaigns as campaign_rules
from app.domain import lifecycle, policy_sql, schedule
from app.domain import transitions as table
from app.domain.enums import CampaignStatus, PostStatus
from app.domain.policy import Policy
from app.settings import Settings

POLICY = Policy.from_settings(Settings())
CADENCE = POLICY.cadence
# Daylight saving changes in 2026: Europe/Berlin (the session's zone here) and New York.
DST_CHANGES = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
]
PARITY = settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])

Timestamp = DateTime(timezone=True)


def instants() -> st.SearchStrategy[datetime]:
    """Any instant of the years the service lives in, and instants within days of a DST change
    (to the microsecond)."""
    anywhere = st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    )
    near_dst = st.tuples(
        st.sampled_from(DST_CHANGES), st.integers(-40 * 86_400_000_000, 40 * 86_400_000_000)
    ).map(lambda t: t[0] + timedelta(microseconds=t[1]))
    return st.one_of(anywhere, near_dst)


def offsets() -> st.SearchStrategy[timedelta]:
    """Small distances from a boundary, both sides, zero included."""
    return st.one_of(
        st.just(timedelta(0)),
        st.integers(-3_600_000_000, 3_600_000_000).map(lambda us: timedelta(microseconds=us)),
        st.integers(-60, 60).map(lambda d: timedelta(days=d)),
    )


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SET TIME ZONE 'Europe/Berlin'")
        yield connection


async def evaluate(conn: AsyncConnection, expression: Any) -> Any:
    return await conn.scalar(select(expression))


def ts(value: datetime | None) -> Any:
    return literal(value, Timestamp)


def num(value: Decimal | None, scale: int) -> Any:
    return literal(value, Numeric(12, scale))


def num_int(value: int | None) -> Any:
    return literal(value, Integer)


money_cpm = st.decimals(min_value=0, max_value=Decimal("99999999.9999"), places=4)
money_cap = st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2)
views = st.one_of(
    st.integers(0, 2_000),  # around the minimum
    st.integers(0, 10**12),  # any real video
    st.integers(0, 2**63 - 1),  # anything a platform can report (a bigint)
)


@PARITY
@given(views=views, cpm=money_cpm, cap=st.none() | money_cap)
@example(views=1010, cpm=Decimal("2.5"), cap=None)  # 2.525: half-up gives 2.53
@example(views=1010, cpm=Decimal("2.5"), cap=Decimal("2.52"))
@example(views=5, cpm=Decimal("1"), cap=None)  # 0.005 -> 0.01
@example(views=2**63 - 1, cpm=Decimal("99999999.9999"), cap=None)  # the largest: 31 digits
# At the default 28 digits, Python rounds this product before the cents: .22, not .21.
@example(views=6082346718748901015, cpm=Decimal("94543141.1182"), cap=None)
async def test_earnings_agree(
    conn: AsyncConnection, views: int, cpm: Decimal, cap: Decimal | None
) -> None:
    expected = lifecycle.earnings(views, lifecycle.Tier(cpm, cap))
    sql = lifecycle.earnings_sql(literal(views, Numeric), num(cpm, 4), num(cap, 2))
    assert await evaluate(conn, sql) == expected


@PARITY
@given(
    aged_from=instants(),
    campaign_days=st.none() | st.integers(0, 30),
    decide_after=st.none() | offsets(),
)
async def test_deadlines_agree_with_and_without_overrides(
    conn: AsyncConnection,
    aged_from: datetime,
    campaign_days: int | None,
    decide_after: timedelta | None,
) -> None:
    rules = POLICY.rules(None, campaign_days)
    base = lifecycle.deadline(aged_from, rules)
    restored = None if decide_after is None else base + decide_after
    expected = lifecycle.deadline(aged_from, rules, restored)
    sql = policy_sql.deadline_sql(POLICY, ts(aged_from), num_int(campaign_days), ts(restored))
    assert await evaluate(conn, sql) == expected


@PARITY
@given(
    status=st.sampled_from(PostStatus),
    next_refresh=st.none() | offsets(),
    lease=st.none() | offsets(),
    now=instants(),
)
async def test_due_now_agrees(
    conn: AsyncConnection,
    status: PostStatus,
    next_refresh: timedelta | None,
    lease: timedelta | None,
    now: datetime,
) -> None:
    next_at = None if next_refresh is None else now + next_refresh
    lease_at = None if lease is None else now + lease
    expected = schedule.is_due(status, next_at, lease_at, now)
    sql = schedule.is_due_sql(literal(status.value, String), ts(next_at), ts(lease_at), now)
    # SQL's NULL (a never-scheduled post) is not due, as in Python.
    assert bool(await evaluate(conn, sql)) is expected
    free = schedule.is_free_sql(literal(status.value, String), ts(lease_at), now)
    assert bool(await evaluate(conn, free)) is schedule.is_free(status, lease_at, now)


@PARITY
@given(now=instants(), age=offsets())
async def test_refresh_window_agrees(conn: AsyncConnection, now: datetime, age: timedelta) -> None:
    aged_from = now - CADENCE.window + age
    expected = schedule.in_window(aged_from, now, CADENCE.window)
    sql = schedule.in_window_sql(ts(aged_from), now, CADENCE.window)
    assert await evaluate(conn, sql) is expected


@PARITY
@given(
    status=st.sampled_from(PostStatus),
    aged_from=instants(),
    campaign_days=st.none() | st.integers(0, 30),
    shortest=st.none() | st.integers(0, 30),
    offset=offsets(),
)
async def test_deadline_urgency_agrees_and_its_index_bound_never_excludes_an_urgent_post(
    conn: AsyncConnection,
    status: PostStatus,
    aged_from: datetime,
    campaign_days: int | None,
    shortest: int | None,
    offset: timedelta,
) -> None:
    rules = POLICY.rules(None, campaign_days)
    deadline = lifecycle.deadline(aged_from, rules)
    now = deadline - CADENCE.active + offset
    expected = schedule.is_urgent(status, deadline, now, CADENCE)
    sql_deadline = policy_sql.deadline_sql(POLICY, ts(aged_from), num_int(campaign_days), ts(None))
    sql = schedule.is_urgent_sql(literal(status.value, String), sql_deadline, now, CADENCE)
    assert await evaluate(conn, sql) is expected
    # The claim narrows urgent posts by age with a bound from the shortest override in
    # force, which is never longer than this campaign's own override.
    if campaign_days is not None:
        shortest = campaign_days if shortest is None else min(shortest, campaign_days)
    bound = policy_sql.urgent_aged_from_bound_sql(POLICY, now, num_int(shortest))
    if expected:
        assert await evaluate(conn, ts(aged_from) <= bound) is True


@PARITY
@given(
    status=st.sampled_from(PostStatus),
    aged_from=instants(),
    campaign_days=st.none() | st.integers(0, 30),
    offset=offsets(),
)
async def test_freshness_classes_agree(
    conn: AsyncConnection,
    status: PostStatus,
    aged_from: datetime,
    campaign_days: int | None,
    offset: timedelta,
) -> None:
    deadline = lifecycle.deadline(aged_from, POLICY.rules(None, campaign_days))
    now = deadline - CADENCE.active + offset
    expected = schedule.freshness(status, deadline, now, CADENCE)
    sql_deadline = policy_sql.deadline_sql(POLICY, ts(aged_from), num_int(campaign_days), ts(None))
    sql = schedule.freshness_sql(literal(status.value, String), sql_deadline, now, CADENCE)
    assert await evaluate(conn, sql) == (None if expected is None else expected.value)
    status_sql = literal(status.value, String)
    assert await evaluate(conn, schedule.is_active_sql(status_sql)) is schedule.is_active(status)
    assert await evaluate(conn, schedule.is_settled_sql(status_sql)) is schedule.is_settled(status)


@PARITY
@given(now=instants(), refreshed=st.none() | offsets(), created=offsets())
async def test_stats_age_agrees(
    conn: AsyncConnection, now: datetime, refreshed: timedelta | None, created: timedelta
) -> None:
    last = None if refreshed is None else now - abs(refreshed)
    created_at = now - abs(created)
    expected = schedule.stats_age(last, created_at, now).total_seconds()
    sql = schedule.stats_age_seconds_sql(ts(last), ts(created_at), now)
    assert float(await evaluate(conn, sql)) == pytest.approx(expected, abs=1e-6)


@PARITY
@given(views=views, campaign_min=st.none() | st.integers(0, 2_000_000_000))
@example(views=1000, campaign_min=None)  # the minimum itself qualifies
@example(views=999, campaign_min=None)
@example(views=0, campaign_min=0)
async def test_min_views_agree_with_and_without_overrides(
    conn: AsyncConnection, views: int, campaign_min: int | None
) -> None:
    rules = POLICY.rules(campaign_min, None)
    expected = lifecycle.meets_min_views(views, rules.min_views)
    sql = lifecycle.meets_min_views_sql(
        literal(views, Numeric), policy_sql.min_views_sql(POLICY, num_int(campaign_min))
    )
    assert await evaluate(conn, sql) is expected


@PARITY
@given(
    last_attempt=st.none() | offsets(),
    now=instants(),
    minutes=st.sampled_from([0, 1, 10, 60]),
)
async def test_fetched_recently_agrees(
    conn: AsyncConnection, last_attempt: timedelta | None, now: datetime, minutes: int
) -> None:
    interval = timedelta(minutes=minutes)
    at = None if last_attempt is None else now - interval + last_attempt
    expected = schedule.fetched_recently(at, now, interval)
    sql = schedule.fetched_recently_sql(ts(at), now, interval)
    # NULL (never fetched) is not recent, as in Python.
    assert bool(await evaluate(conn, sql)) is expected


async def test_transition_guards_agree(conn: AsyncConnection) -> None:
    """Every (from, to) pair, in the table or not, against every post state a guard reads:
    the writer's UPDATE condition and the Python twin that explains its 409 agree."""
    batch, other = uuid.UUID(int=1), uuid.UUID(int=2)
    states = [
        table.PostState(status, holds, payout)
        for status in PostStatus
        for holds in (0, 1, 2)
        for payout in (None, batch)
    ]

    def as_sql(state: table.PostState, via: Any, **more: Any) -> table.StateSql:
        return table.StateSql(
            literal(state.status.value, String),
            literal(state.open_holds, Integer),
            literal(state.open_payout_id, PgUUID(as_uuid=True)),
            via,
            **more,
        )

    checks: list[tuple[Any, bool, tuple[object, ...]]] = []
    for from_status in PostStatus:
        for to_status in PostStatus:
            for state in states:
                for via in (None, batch, other):
                    expected = table.allowed(from_status, to_status, state, via)
                    shown = as_sql(state, literal(via, PgUUID(as_uuid=True)))
                    sql = table.allowed_sql(from_status, to_status, shown)
                    checks.append((sql, expected, (from_status, to_status, state, via)))
                    if via is None:  # a batch not made yet, as what is ready to pay asks
                        free = literal(state.open_payout_id is None)
                        new = as_sql(state, null(), in_no_open_payout=free)
                        ready = table.allowed_sql(from_status, to_status, new)
                        checks.append((ready, expected, (from_status, to_status, state, "new")))
    # One round trip per few hundred expressions.
    for start in range(0, len(checks), 500):
        chunk = checks[start : start + 500]
        row = (await conn.execute(select(*(sql for sql, _, _ in chunk)))).one()
        for answer, (_, expected, case_) in zip(row, chunk, strict=True):
            assert bool(answer) is expected, case_


@PARITY
@given(
    stored=st.sampled_from(CampaignStatus),
    ends_in_days=st.none() | st.integers(-3, 3),
    now=st.one_of(
        instants(),
        # Either side of midnight UTC, where the session's zone (Berlin) is on another day.
        st.tuples(st.dates(date(2020, 1, 1), date(2035, 1, 1)), st.integers(-7200, 7200)).map(
            lambda t: datetime.combine(t[0], time(), UTC) + timedelta(seconds=t[1])
        ),
    ),
)
async def test_campaign_status_agrees(
    conn: AsyncConnection, stored: CampaignStatus, ends_in_days: int | None, now: datetime
) -> None:
    ends_on = None if ends_in_days is None else now.date() + timedelta(days=ends_in_days)
    expected = campaign_rules.status_at(stored, ends_on, now)
    sql = campaign_rules.status_sql(literal(stored.value, String), literal(ends_on, Date), now)
    assert await evaluate(conn, sql) == expected.value
