"""Fair within a claim (issue 22, item 15): one claim may cover every organization's due
posts, so the order it is fetched in decides who waits. A small organization's posts are
among the first fetched, whatever the claim's size and however long a large one's backlog
has waited; and a claim itself takes every organization's most overdue in turns."""

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Post
from app.platforms.sandbox import Sandbox
from app.repositories import claims
from app.settings import Settings
from app.workers.refresher import Refresher, claim_size
from tests.engine_kit import Clock, seed

SM = async_sessionmaker[AsyncSession]


async def test_a_small_organizations_posts_are_fetched_among_the_first(
    committed: SM,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    sandbox: Sandbox,
    fast: Settings,
) -> None:
    """Organization A has 60 posts due for an hour, B 3 due for a minute: one claim takes
    all 63 (the issue's case), and B's three are in the first batch the provider sees."""
    large = await seed(
        committed, [(Platform.TIKTOK, str(40_000 + i)) for i in range(60)], clock.now
    )
    small = await seed(committed, [(Platform.TIKTOK, str(50_000 + i)) for i in range(3)], clock.now)
    async with committed() as session:
        for seeded, waited in ((large, timedelta(hours=1)), (small, timedelta(minutes=1))):
            await session.execute(
                update(Post)
                .where(Post.organization_id == seeded.organization_id)
                .values(
                    published_at=clock.now - timedelta(days=1),
                    next_refresh_at=clock.now - waited,
                )
            )
        await session.commit()
    assert claim_size(fast, Platform.TIKTOK) >= 63  # one claim covers both organizations
    sandbox.requests.clear()

    totals = await make_refresher().refresh_due(Platform.TIKTOK)

    assert totals["refreshed"] == 63, totals
    fetched = [r.video_id for r in sandbox.requests if r.video_id is not None]
    assert len(fetched) == 63
    first_batch = fetched[: fast.tiktok_batch_size]
    assert set(small.posts) <= set(first_batch), fetched.index(next(iter(small.posts)))
    # A is served too: every organization's first before anyone's second.
    assert sum(v in large.posts for v in first_batch) >= 3


async def test_a_claim_serves_a_small_organization_beside_a_large_one(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """300 posts of one organization have waited an hour, 10 of another a minute: the first
    claim of 20 takes every organization's most overdue in turns, so the small one is
    served in it, not after the large one's backlog."""
    large = await seed(
        committed, [(Platform.TIKTOK, str(20_000 + i)) for i in range(300)], clock.now
    )
    small = await seed(
        committed, [(Platform.TIKTOK, str(30_000 + i)) for i in range(10)], clock.now
    )
    async with committed() as session:
        for seeded, waited in ((large, timedelta(hours=1)), (small, timedelta(minutes=1))):
            await session.execute(
                update(Post)
                .where(Post.organization_id == seeded.organization_id)
                .values(
                    published_at=clock.now - timedelta(days=1),
                    next_refresh_at=clock.now - waited,
                )
            )
        await session.commit()
    async with committed() as session:
        taken = await claims.claim(
            session,
            Platform.TIKTOK,
            now=clock.now,
            limit=20,
            lease=timedelta(minutes=5),
            policy=make_refresher().policy,
        )
        await session.rollback()
    by_org = {
        org: sum(p.organization_id == org for p in taken)
        for org in (large.organization_id, small.organization_id)
    }
    assert by_org == {large.organization_id: 10, small.organization_id: 10}
