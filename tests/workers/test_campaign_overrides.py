"""A campaign's own rules (min_views, finalize_after_days) hold on every path that decides or
schedules a post: the deadline fetch written by the refresher, the deadline sweep and the
claim's deadline urgency. Also: a tier assigned while the sweep decides is never overwritten
by a decision made without it."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import Principal
from app.domain.enums import Platform, PostStatus, Role
from app.models import Post, PostEvent
from app.platforms.sandbox import Sandbox
from app.repositories import claims
from app.services import posts as post_service
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers.refresher import Refresher
from tests.engine_kit import Clock, find_video, seed

SM = async_sessionmaker[AsyncSession]
GRACE = timedelta(hours=24)


async def _post(sm: SM, post_id: uuid.UUID) -> Post:
    async with sm() as session:
        post = await session.get(Post, post_id)
        assert post is not None
        return post


async def _sweep(sm: SM, refresher: Refresher, clock: Clock) -> int:
    async with sm() as session:
        decided = await lifecycle_sweep.sweep(session, clock.now, refresher.policy, GRACE)
        await session.commit()
    return decided


async def test_the_sweep_decides_on_the_campaigns_own_days_and_minimum(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """finalize_after_days=3, min_views=5000: at 4 days old 4,999 views is rejected and 5,000
    finalized; a 2-day-old post is not due yet. (With the defaults, 7 days and 1,000 views,
    none would be decided, and 4,999 would pass.)"""
    s = await seed(
        committed,
        [(Platform.TIKTOK, "4999"), (Platform.TIKTOK, "5000"), (Platform.TIKTOK, "2000")],
        clock.now,
        min_views=5000,
        finalize_after_days=3,
    )
    async with committed() as session:
        for video, (age, views) in {
            "4999": (4, 4999),
            "5000": (4, 5000),
            "2000": (2, 9000),
        }.items():
            await session.execute(
                update(Post)
                .where(Post.id == s.posts[video])
                .values(
                    published_at=clock.now - timedelta(days=age),
                    views=views,
                    last_refreshed_at=clock.now,  # fresh: fetched after the deadline
                )
            )
        await session.commit()
    assert await _sweep(committed, make_refresher(), clock) == 2

    rejected = await _post(committed, s.posts["4999"])
    assert (rejected.status, rejected.rejection_code) == (PostStatus.REJECTED, "below_min_views")
    assert "4,999 views" in (rejected.rejection_reason or "")
    assert "5,000 are needed" in (rejected.rejection_reason or "")
    finalized = await _post(committed, s.posts["5000"])
    assert (finalized.status, finalized.locked_views, finalized.earnings) == (
        PostStatus.FINALIZED,
        5000,
        Decimal("22.50"),
    )
    assert (await _post(committed, s.posts["2000"])).status is PostStatus.TRACKING


async def test_the_deadline_fetch_decides_on_the_campaigns_own_days_and_minimum(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    """The same rules on the refresher's write path: each campaign's minimum is set at its
    video's exact view count at the fetch, and one view above it."""

    def aged(low: float, high: float, skip: list[str]) -> str:
        return find_video(
            Platform.TIKTOK,
            sandbox.anchor,
            lambda v: (
                timedelta(days=low) <= clock.now - v.created_at < timedelta(days=high)
                and v.counts_at(clock.now).views > 0
            ),
            skip=skip,
        )

    def views_now(video: str) -> int:
        return sandbox.video(Platform.TIKTOK, video).counts_at(clock.now).views

    at_minimum = aged(3.5, 4.5, [])
    below = aged(3.5, 4.5, [at_minimum])
    young = aged(2.8, 2.95, [at_minimum, below])  # its deadline comes before its next 6 h
    exact = await seed(
        committed,
        [(Platform.TIKTOK, at_minimum), (Platform.TIKTOK, young)],
        clock.now,
        min_views=views_now(at_minimum),
        finalize_after_days=3,
    )
    short = await seed(
        committed,
        [(Platform.TIKTOK, below)],
        clock.now,
        min_views=views_now(below) + 1,
        finalize_after_days=3,
    )
    await make_refresher().refresh_due(Platform.TIKTOK)

    finalized = await _post(committed, exact.posts[at_minimum])
    assert (finalized.status, finalized.locked_views) == (
        PostStatus.FINALIZED,
        views_now(at_minimum),
    )
    assert finalized.earnings == (Decimal(views_now(at_minimum)) * Decimal("4.5") / 1000).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    rejected = await _post(committed, short.posts[below])
    assert (rejected.status, rejected.rejection_code) == (PostStatus.REJECTED, "below_min_views")
    tracking = await _post(committed, exact.posts[young])
    assert tracking.status is PostStatus.TRACKING
    # Its next fetch is at its own deadline (3 days from publishing), not 6 hours on.
    published = sandbox.video(Platform.TIKTOK, young).created_at
    assert tracking.next_refresh_at == published + timedelta(days=3)


async def test_a_claim_takes_posts_near_their_campaigns_deadline_first(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """Of two due posts, one claim slot goes to the post near its deadline under its
    campaign's 4 days, though the other has waited longer."""
    near = await seed(committed, [(Platform.TIKTOK, "111")], clock.now, finalize_after_days=4)
    overdue = await seed(committed, [(Platform.TIKTOK, "222")], clock.now)
    async with committed() as session:
        await session.execute(
            update(Post)
            .where(Post.id == near.posts["111"])
            .values(
                published_at=clock.now - timedelta(days=3, hours=23),
                next_refresh_at=clock.now - timedelta(minutes=1),
            )
        )
        await session.execute(
            update(Post)
            .where(Post.id == overdue.posts["222"])
            .values(
                published_at=clock.now - timedelta(days=3, hours=23),
                next_refresh_at=clock.now - timedelta(hours=5),
            )
        )
        await session.commit()
    refresher = make_refresher()
    async with committed() as session:
        (first,) = await claims.claim(
            session,
            Platform.TIKTOK,
            now=clock.now,
            limit=1,
            lease=timedelta(minutes=5),
            policy=refresher.policy,
        )
        await session.rollback()
    assert first.id == near.posts["111"]


async def test_a_tier_assigned_while_the_sweep_decides_is_never_overwritten(
    committed: SM, engine: AsyncEngine, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """The sweep reads a tierless post past its deadline (so it decides pending_cpm); before
    its UPDATE lands, an editor's tier assignment, holding the row lock, commits. The
    sweep's guarded UPDATE must then change nothing, and the next sweep finalizes the post
    with the tier. Interleaved with the row lock, not with sleeps."""
    s = await seed(committed, [(Platform.TIKTOK, "777")], clock.now, cpm=None)
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=8), views=3000, last_refreshed_at=clock.now
            )
        )
        tier_id = uuid.uuid4()
        await session.execute(
            text(
                "INSERT INTO cpm_tiers (id, organization_id, campaign_id, name, cpm)"
                " VALUES (:id, :org, :campaign, 'Late', 5)"
            ),
            {"id": tier_id, "org": s.organization_id, "campaign": s.campaign_id},
        )
        await session.commit()
    refresher = make_refresher()
    editor = Principal(uuid.uuid4(), s.organization_id, Role.EDITOR)

    async with committed() as assigning:
        # The editor's request holds the post's row lock (assign_tier reads it FOR UPDATE)...
        await post_service.assign_tier(assigning, editor, s.posts["777"], tier_id)
        # ...while the sweep reads the post without its tier and tries to decide it.
        sweeping = asyncio.create_task(_sweep(committed, refresher, clock))
        await _blocked_on_a_lock(engine)
        await assigning.commit()
    assert await sweeping == 0

    post = await _post(committed, s.posts["777"])
    assert (post.status, post.cpm_tier_id, post.locked_views) == (
        PostStatus.TRACKING,
        tier_id,
        None,
    )
    assert await _sweep(committed, refresher, clock) == 1
    post = await _post(committed, s.posts["777"])
    assert (post.status, post.locked_views, post.earnings) == (
        PostStatus.FINALIZED,
        3000,
        Decimal("15.00"),
    )
    async with committed() as session:
        events = (await session.execute(select(PostEvent.to_status))).scalars().all()
    assert events == [PostStatus.FINALIZED]


async def _blocked_on_a_lock(engine: AsyncEngine) -> None:
    """Wait until some session of this database waits for a row lock."""
    for _ in range(2000):
        async with engine.connect() as conn:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the sweep never waited for the row lock")
