"""YouTube's daily quota as the lane's budget, end to end: real PostgreSQL and Redis, the
sandbox's videos.list in-process. 1,000 Shorts cost 20 units; a spent quota leaves the posts
due (not failed) until midnight Pacific time and shows in the capacity figures and
/health/ready; a lane low on units spends them on posts still tracking."""

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from redis.asyncio import Redis
from sqlalchemy import func, select, update

from app.domain.enums import Platform, PostStatus
from app.models import Post
from app.platforms.sandbox import Sandbox, published_id, videos_by
from app.services import readiness
from app.settings import Settings
from app.workers import capacity
from app.workers.quota import DailyQuota, next_reset, pacific_day
from app.workers.refresher import Refresher
from tests.engine_kit import SM, Clock, YouTube, quota_lane


async def statuses(committed: SM) -> dict[str, int]:
    async with committed() as session:
        rows = await session.execute(
            select(Post.last_fetch_outcome, func.count()).group_by(Post.last_fetch_outcome)
        )
        return {str(outcome): n for outcome, n in rows.all()}


async def test_a_thousand_shorts_are_refreshed_in_twenty_quota_units(
    shorts: YouTube,
) -> None:
    await shorts.seed(videos_by(Platform.YOUTUBE, "sandbox-shorts", 1000, seed="thousand"))
    engine = shorts.engine()

    counts = await engine.refresh_due(Platform.YOUTUBE)

    assert counts["refreshed"] == 1000
    assert await statuses(shorts.committed) == {"refreshed": 1000}
    assert shorts.calls() == 20
    _, quota = quota_lane(engine)
    assert (await quota.state()).used == 20


async def test_a_spent_quota_waits_for_the_reset_and_is_visible(
    shorts: YouTube, redis: Redis, clock: Clock
) -> None:
    committed = shorts.committed
    seeded = await shorts.seed(videos_by(Platform.YOUTUBE, "sandbox-shorts", 250, seed="spent"))
    daily = shorts.quick(youtube_daily_quota_units=3, youtube_quota_reserve_units=0)
    engine = shorts.engine(daily)

    counts = await engine.refresh_due(Platform.YOUTUBE)

    # Three units, three batches of 50; the other 100 posts wait, due, with no error.
    assert counts["refreshed"] == 150
    assert await statuses(committed) == {"refreshed": 150, "None": 100}
    async with committed() as session:
        waiting = (
            await session.scalars(
                select(Post).where(
                    Post.last_fetch_outcome.is_(None), Post.id.in_(seeded.posts.values())
                )
            )
        ).all()
    assert all(p.last_error_code is None and p.consecutive_failures == 0 for p in waiting)
    assert all(p.lease_expires_at is None for p in waiting)
    lane, quota = quota_lane(engine)
    assert await lane.parked()

    # Visible: the capacity figures and /health/ready, in units per day.
    states = {Platform.YOUTUBE: [await quota.state()]}
    async with committed() as session:
        figures = await capacity.measure(
            session, clock.now, engine.policy, daily, {Platform.YOUTUBE: (1, 0)}, quotas=states
        )
    youtube = figures[Platform.YOUTUBE]
    assert (youtube.units_left_today, youtube.exhausted_lanes) == (0, 1)
    assert youtube.available_units_per_day == 3
    assert youtube.resets_at == next_reset(clock.now).isoformat()
    await capacity.publish(redis, figures, 60)
    ready = await readiness.capacity(redis)
    assert ready["status"] == "warn"
    assert "youtube: every key's daily quota is spent until" in ready["output"]
    observed = ready["observedValue"]["youtube"]
    assert (observed["units_left_today"], observed["quota_spent_lanes"]) == (0, 1)
    assert observed["available_units_per_day"] == 3

    # A second sweep the same day sends nothing.
    before = shorts.calls()
    assert await engine.refresh_due(Platform.YOUTUBE) == {}
    assert shorts.calls() == before

    # Midnight in Los Angeles: a new day's units, and the waiting posts are refreshed.
    clock.now = next_reset(clock.now) + timedelta(seconds=1)
    assert not await lane.parked()
    await engine.refresh_due(Platform.YOUTUBE)
    assert await statuses(committed) == {"refreshed": 250}


async def test_youtubes_own_quota_exceeded_answer_spends_the_lane(shorts: YouTube) -> None:
    """The key is shared with another program: YouTube says quotaExceeded before our count
    does. The lane stops for the day and the posts wait."""
    shorts.sandbox.youtube_daily_units = 2
    await shorts.seed(videos_by(Platform.YOUTUBE, "sandbox-shorts", 200, seed="shared"))
    engine = shorts.engine()

    counts = await engine.refresh_due(Platform.YOUTUBE)

    assert counts["refreshed"] == 100
    assert await statuses(shorts.committed) == {"refreshed": 100, "None": 100}
    _, quota = quota_lane(engine)
    state = await quota.state()
    assert (state.used, state.exhausted) == (shorts.settings.youtube_daily_quota_units, True)


async def test_a_lane_low_on_units_spends_them_on_tracking_posts_first(
    shorts: YouTube, clock: Clock
) -> None:
    committed = shorts.committed
    ids = videos_by(Platform.YOUTUBE, "sandbox-shorts", 4, seed="reserve")
    seeded = await shorts.seed(ids)
    settled, tracking = ids[:2], ids[2:]
    async with committed() as session:
        await session.execute(
            update(Post)
            .where(Post.id.in_([seeded.posts[i] for i in settled]))
            .values(
                status=PostStatus.FINALIZED,
                locked_views=5000,
                earnings=Decimal("22.50"),
                published_at=clock.now - timedelta(days=10),
            )
        )
        await session.commit()
    engine = shorts.engine(
        shorts.quick(youtube_daily_quota_units=10, youtube_quota_reserve_units=8)
    )
    _, quota = quota_lane(engine)
    assert await quota.spend(2)  # 8 left: at the reserve

    await engine.refresh_due(Platform.YOUTUBE)

    async with committed() as session:
        fetched = dict(
            (await session.execute(select(Post.platform_post_id, Post.last_fetch_outcome))).all()
        )
    assert {i: fetched[i] for i in tracking} == {i: "refreshed" for i in tracking}
    assert {i: fetched[i] for i in settled} == {i: None for i in settled}

    # Above the reserve again (a new day), the settled posts are refreshed too.
    clock.now = next_reset(clock.now) + timedelta(minutes=1)
    async with committed() as session:
        await session.execute(update(Post).values(next_refresh_at=clock.now))
        await session.commit()
    await engine.refresh_due(Platform.YOUTUBE)
    async with committed() as session:
        outcomes = set((await session.scalars(select(Post.last_fetch_outcome))).all())
    assert outcomes == {"refreshed"}


async def test_a_short_is_tracked_decided_at_seven_days_and_its_hidden_likes_stay_unknown(
    shorts: YouTube, clock: Clock, sandbox: Sandbox
) -> None:
    old = published_id(Platform.YOUTUBE, 24 * 7 + 6)  # past its 7-day deadline
    hidden = "NOLIKES001A"
    seeded = await shorts.seed([old, hidden])
    clock.now = max(clock.now, sandbox.anchor)
    await shorts.engine().refresh_due(Platform.YOUTUBE)

    async with shorts.committed() as session:
        decided = await session.get(Post, seeded.posts[old])
        unknown = await session.get(Post, seeded.posts[hidden])
    assert decided is not None
    assert unknown is not None
    views = sandbox.video(Platform.YOUTUBE, old).counts_at(sandbox.now()).views
    assert views >= 1000
    assert (decided.status, decided.locked_views) == (PostStatus.FINALIZED, views)
    assert decided.earnings == (Decimal(views) * Decimal("4.5") / 1000).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    assert decided.published_at == sandbox.video(Platform.YOUTUBE, old).created_at
    assert unknown.likes is None
    assert unknown.views > 0


def test_the_quota_day_is_pacific_and_resets_at_its_midnight() -> None:
    # 07:59 UTC on 10 March 2025 is 00:59 PDT (daylight saving began on the 9th).
    assert pacific_day(datetime(2025, 3, 10, 6, 59, tzinfo=UTC)) == "2025-03-09"
    assert pacific_day(datetime(2025, 3, 10, 7, 0, tzinfo=UTC)) == "2025-03-10"
    assert next_reset(datetime(2025, 3, 10, 6, 59, tzinfo=UTC)) == datetime(
        2025, 3, 10, 7, 0, tzinfo=UTC
    )
    # Winter: midnight PST is 08:00 UTC.
    assert next_reset(datetime(2025, 1, 15, 12, 0, tzinfo=UTC)) == datetime(
        2025, 1, 16, 8, 0, tzinfo=UTC
    )


async def test_units_are_shared_by_every_process_and_never_overspent(redis: Redis) -> None:
    now = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    one = DailyQuota(redis, "lane-a", 5, now=lambda: now)
    two = DailyQuota(redis, "lane-a", 5, now=lambda: now)
    spent = [await (one if n % 2 else two).spend(1) for n in range(8)]
    assert spent == [True] * 5 + [False] * 3
    assert (await one.state()).used == 5
    other = DailyQuota(redis, "lane-b", 5, now=lambda: now)
    assert await other.spend(1)
    assert json.dumps((await other.state()).used) == "1"


async def test_watched_channels_need_a_unit_a_listing(
    shorts: YouTube, committed: SM, settings: Settings, redis: Redis, clock: Clock
) -> None:
    """Each watched channel's uploads are read once an interval, a unit a page (at least
    one): four channels every 6 hours need 16 units a day, not 16 fiftieths."""
    quota = DailyQuota(redis, "capacity-lane", 10_000, now=clock)
    engine_policy = Refresher(committed, {}, settings, clock=clock).policy
    async with committed() as session:
        figures = await capacity.measure(
            session,
            clock.now,
            engine_policy,
            shorts.quick(watch_interval_hours=6),
            {Platform.YOUTUBE: (1, 0)},
            watched={Platform.YOUTUBE: 4},
            quotas={Platform.YOUTUBE: [await quota.state()]},
        )
    youtube = figures[Platform.YOUTUBE]
    assert youtube.watched_accounts == 4
    assert youtube.needed_units_per_day == 16
