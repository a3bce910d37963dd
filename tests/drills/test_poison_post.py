"""Drill: one poison post never delays another. The database is made to refuse one post's
write (a trigger raising numeric_value_out_of_range, as an overflow would) in a batch of 50
across two organizations; the 49 others are written and decided in that same cycle, and the
poison post records its error and gives its lease back. The same for the deadline sweep."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform, PostStatus
from app.models import Post
from app.platforms.sandbox import Sandbox
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers.refresher import Refresher
from tests.engine_kit import Clock, find_video, seed

SM = async_sessionmaker[AsyncSession]
Poison = Callable[[str, str], Awaitable[None]]


@pytest.fixture
async def poison(engine: AsyncEngine) -> AsyncIterator[Poison]:
    """Make the database refuse UPDATEs of one post that change `column`."""
    made: list[str] = []

    async def install(platform_post_id: str, column: str) -> None:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                f"""
                CREATE FUNCTION drill_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.platform_post_id = '{platform_post_id}'
                       AND NEW.{column} IS DISTINCT FROM OLD.{column} THEN
                        RAISE EXCEPTION 'poison' USING ERRCODE = 'numeric_value_out_of_range';
                    END IF;
                    RETURN NEW;
                END $$
                """
            )
            await conn.exec_driver_sql(
                "CREATE TRIGGER drill_poison BEFORE UPDATE ON posts"
                " FOR EACH ROW EXECUTE FUNCTION drill_poison()"
            )
        made.append(platform_post_id)

    yield install
    if made:
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP TRIGGER drill_poison ON posts")
            await conn.exec_driver_sql("DROP FUNCTION drill_poison()")


async def test_one_poison_post_in_a_batch_of_50_fails_alone(
    committed: SM,
    make_refresher: Callable[[], Refresher],
    sandbox: Sandbox,
    clock: Clock,
    poison: Poison,
) -> None:
    videos: list[str] = []
    for _ in range(50):
        videos.append(
            find_video(
                Platform.TIKTOK,
                sandbox.anchor,
                lambda v: timedelta(hours=1) < clock.now - v.created_at < timedelta(days=20),
                skip=videos,
            )
        )
    # Two organizations, every post decided at its first fetch (finalize after 0 days).
    await seed(
        committed, [(Platform.TIKTOK, v) for v in videos[:25]], clock.now, finalize_after_days=0
    )
    await seed(
        committed, [(Platform.TIKTOK, v) for v in videos[25:]], clock.now, finalize_after_days=0
    )
    bad = videos[7]
    await poison(bad, "views")

    counts = await make_refresher().refresh_due(Platform.TIKTOK)

    async with committed() as session:
        rows = (
            await session.execute(
                select(
                    Post.platform_post_id,
                    Post.status,
                    Post.last_fetch_outcome,
                    Post.last_error_code,
                    Post.lease_expires_at,
                    Post.organization_id,
                )
            )
        ).all()
    others = [r for r in rows if r.platform_post_id != bad]
    (poisoned,) = [r for r in rows if r.platform_post_id == bad]
    assert len(others) == 49
    assert {r.last_fetch_outcome for r in others} == {"refreshed"}
    assert all(r.status is not PostStatus.TRACKING for r in others)  # decided, this cycle
    assert len({r.organization_id for r in others}) == 2
    assert (poisoned.status, poisoned.last_fetch_outcome, poisoned.last_error_code) == (
        PostStatus.TRACKING,
        "write_failed",
        "write_failed",
    )
    assert poisoned.lease_expires_at is None  # handed back, not held until the lease ends
    assert counts["refreshed"] == 49


async def test_one_poison_decision_never_stops_the_sweep(
    committed: SM,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    poison: Poison,
) -> None:
    ids = [str(5000 + i) for i in range(10)]
    await seed(committed, [(Platform.TIKTOK, i) for i in ids[:5]], clock.now)
    await seed(committed, [(Platform.TIKTOK, i) for i in ids[5:]], clock.now)
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=8), views=5000, last_refreshed_at=clock.now
            )
        )
        await session.commit()
    await poison(ids[3], "status")

    async with committed() as session:
        decided = await lifecycle_sweep.sweep(
            session, clock.now, make_refresher().policy, timedelta(hours=24)
        )
        await session.commit()
        finalized = await session.scalar(
            select(func.count()).where(Post.status == PostStatus.FINALIZED)
        )
        error = await session.scalar(
            select(Post.last_error_code).where(Post.platform_post_id == ids[3])
        )
    assert (decided, finalized, error) == (9, 9, "decision_failed")
