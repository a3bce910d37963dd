"""The deadline sweep: it decides any tier on any view count exactly, and never overwrites a
hold raised while it decides."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.enums import Platform, PostStatus
from app.models import Post
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers.refresher import Refresher
from tests.engine_kit import Clock
from tests.workers.conftest import SM


async def test_any_tier_on_any_view_count_is_paid_exactly(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """A cpm of 99999999.9999 with no cap on 2.98M views overflowed NUMERIC(12,2) before."""
    from tests.engine_kit import seed

    s = await seed(
        committed, [(Platform.TIKTOK, "2980000")], clock.now, cpm="99999999.9999", cap=None
    )
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=8),
                views=2_980_000,
                last_refreshed_at=clock.now,
            )
        )
        await session.commit()
        decided = await lifecycle_sweep.sweep(
            session, clock.now, make_refresher().policy, timedelta(hours=24)
        )
        await session.commit()
    assert decided == 1
    post = await session_get(committed, s.posts["2980000"])
    assert (post.status, post.earnings) == (PostStatus.FINALIZED, Decimal("297999999999.70"))


async def session_get(sm: SM, post_id: uuid.UUID) -> Post:
    async with sm() as session:
        post = await session.get(Post, post_id)
        assert post is not None
        return post


async def test_a_hold_raised_while_the_sweep_decides_is_never_overwritten(
    committed: SM, engine: AsyncEngine, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """The sweep reads a post with no open hold (so it would finalize it); before its UPDATE
    lands, a hold is raised on it (holding the row lock). The sweep's decision, guarded by
    the open-hold count it saw, changes nothing; the next sweep holds the post."""
    import asyncio

    from app.repositories import holds
    from tests.engine_kit import seed
    from tests.workers.test_campaign_overrides import _blocked_on_a_lock

    s = await seed(committed, [(Platform.TIKTOK, "888")], clock.now)
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=8), views=3000, last_refreshed_at=clock.now
            )
        )
        await session.commit()
    refresher = make_refresher()

    async def sweep() -> int:
        async with committed() as session:
            decided = await lifecycle_sweep.sweep(
                session, clock.now, refresher.policy, timedelta(hours=24)
            )
            await session.commit()
        return decided

    async with committed() as raising:
        await holds.raise_many(
            raising,
            [holds.NewHold(s.posts["888"], s.organization_id, "author_mismatch", "checked")],
            clock.now,
        )
        sweeping = asyncio.create_task(sweep())
        await _blocked_on_a_lock(engine)
        await raising.commit()
    assert await sweeping == 0
    assert (await session_get(committed, s.posts["888"])).status is PostStatus.TRACKING
    assert await sweep() == 1
    held = await session_get(committed, s.posts["888"])
    assert (held.status, held.locked_views, held.earnings) == (PostStatus.HELD, 3000, None)
