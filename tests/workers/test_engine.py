"""The tracking engine end to end: real PostgreSQL and Redis, the sandbox provider in-process,
and a controllable clock shared by the engine and the sandbox."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform, StatsSource
from app.models import Creator, Post, PostEvent, RefreshRun, StatsSnapshot
from app.platforms.contract import FetchResult, VideoRef, VideoStats
from app.platforms.sandbox import Magic, Sandbox, instagram_shortcode, tiktok_id
from app.services.refresh_results import write as write_results
from app.settings import Settings
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers.refresher import Refresher
from tests.engine_kit import Clock, find_video, outlived_lease, seed

SM = async_sessionmaker[AsyncSession]


async def _post(sm: SM, post_id: object) -> Post:
    async with sm() as session:
        post = await session.get(Post, post_id)
        assert post is not None
        return post


async def _count(sm: SM, model: type, **where: object) -> int:
    async with sm() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return int(await session.scalar(stmt) or 0)


def _young(
    sandbox: Sandbox, clock: Clock, platform: Platform = Platform.TIKTOK, **kw: object
) -> str:
    """A video between 1 and 5 days old: tracked, not yet at its deadline."""
    return find_video(
        platform,
        sandbox.anchor,
        lambda v: timedelta(days=1) < clock.now - v.created_at < timedelta(days=5),
        **kw,  # type: ignore[arg-type]
    )


async def test_a_refresh_fills_stats_snapshot_publish_time_and_syncs_the_creator(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    vid = _young(sandbox, clock)
    s = await seed(committed, [(Platform.TIKTOK, vid)], clock.now)
    counts = await make_refresher().refresh_due(Platform.TIKTOK)
    assert counts == {"refreshed": 1}
    video = sandbox.video(Platform.TIKTOK, vid)
    expected = video.counts_at(clock.now)
    post = await _post(committed, s.posts[vid])
    assert (post.views, post.likes, post.comments, post.shares) == (
        expected.views,
        expected.likes,
        expected.comments,
        expected.shares,
    )
    assert post.published_at == video.created_at
    assert post.last_refreshed_at == clock.now
    assert post.consecutive_failures == 0
    assert post.status == "tracking"
    assert post.lease_expires_at is None
    # Next due in 6 hours: the deadline is further away than that.
    assert post.next_refresh_at == clock.now + timedelta(hours=6)
    async with committed() as session:
        snaps = (await session.scalars(select(StatsSnapshot))).all()
        creator = await session.get(Creator, post.creator_id)
    assert [(x.views, x.source) for x in snaps] == [(expected.views, "primary")]
    assert creator is not None
    assert (creator.handle, creator.platform_user_id) == (video.handle, video.user_id)
    # Nothing is due any more: a second sweep fetches nothing.
    assert await make_refresher().refresh_due(Platform.TIKTOK) == {}


async def test_a_failing_video_is_recorded_and_isolated_from_its_batch(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    good = [_young(sandbox, clock)]
    good.append(_young(sandbox, clock, skip=good))
    deleted = tiktok_id(Magic.DELETED)
    s = await seed(
        committed, [(Platform.TIKTOK, v) for v in [good[0], deleted, good[1]]], clock.now
    )
    async with committed() as session:
        await session.execute(
            update(Post).where(Post.platform_post_id == deleted).values(views=4321)
        )
        await session.commit()
    counts = await make_refresher().refresh_due(Platform.TIKTOK)
    assert counts == {"refreshed": 2, "failed": 1}
    failed = await _post(committed, s.posts[deleted])
    assert (failed.views, failed.last_error_code, failed.consecutive_failures) == (
        4321,
        "not_found",
        1,
    )
    assert failed.last_error_at == clock.now
    assert failed.next_refresh_at == clock.now + timedelta(seconds=600)  # retried sooner
    for vid in good:
        assert (await _post(committed, s.posts[vid])).last_error is None
    # The streak grows while the video stays gone, and its stats stay as they were.
    clock.advance(minutes=11)
    await make_refresher().refresh_due(Platform.TIKTOK)
    again = await _post(committed, s.posts[deleted])
    assert (again.views, again.consecutive_failures) == (4321, 2)
    assert await _count(committed, StatsSnapshot, post_id=s.posts[deleted]) == 0


async def test_primary_down_falls_back_to_the_backup_end_to_end(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    vid = tiktok_id(Magic.PRIMARY_DOWN)
    s = await seed(committed, [(Platform.TIKTOK, vid)], clock.now)
    assert await make_refresher().refresh_due(Platform.TIKTOK) == {"refreshed": 1}
    async with committed() as session:
        sources = (await session.scalars(select(StatsSnapshot.source))).all()
    assert sources == ["backup"]
    assert (await _post(committed, s.posts[vid])).views > 0


async def test_an_instagram_carousel_with_no_views_is_skipped_and_keeps_its_stats(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    code = instagram_shortcode(Magic.CAROUSEL)
    s = await seed(committed, [(Platform.INSTAGRAM, code)], clock.now)
    async with committed() as session:
        await session.execute(update(Post).values(views=500, likes=20))
        await session.commit()
    assert await make_refresher().refresh_due(Platform.INSTAGRAM) == {"skipped": 1}
    post = await _post(committed, s.posts[code])
    assert (post.views, post.likes, post.last_error, post.consecutive_failures) == (
        500,
        20,
        None,
        0,
    )
    assert await _count(committed, StatsSnapshot) == 0
    assert post.next_refresh_at is not None


def _aged(
    sandbox: Sandbox,
    clock: Clock,
    low: float,
    high: float,
    views: Callable[[int], bool],
    skip: list[str],
) -> str:
    return find_video(
        Platform.TIKTOK,
        sandbox.anchor,
        lambda v: (
            timedelta(days=low) <= clock.now - v.created_at < timedelta(days=high)
            and views(v.counts_at(clock.now).views)
        ),
        skip=skip,
    )


async def test_seven_day_decisions_are_made_on_the_deadline_fetch(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    taken: list[str] = []
    popular = _aged(sandbox, clock, 7, 8, lambda n: n >= 1000, taken)
    taken.append(popular)
    flop = _aged(sandbox, clock, 7, 8, lambda n: n < 1000, taken)
    taken.append(flop)
    young = _aged(sandbox, clock, 2, 6.5, lambda n: True, taken)
    with_tier = await seed(
        committed, [(Platform.TIKTOK, v) for v in (popular, flop, young)], clock.now
    )
    await make_refresher().refresh_due(Platform.TIKTOK)

    finalized = await _post(committed, with_tier.posts[popular])
    views = sandbox.video(Platform.TIKTOK, popular).counts_at(clock.now).views
    assert (finalized.status, finalized.locked_views) == ("finalized", views)
    assert finalized.earnings == (Decimal(views) * Decimal("4.5") / 1000).quantize(
        Decimal("0.01"), ROUND_HALF_UP
    )
    rejected = await _post(committed, with_tier.posts[flop])
    assert (rejected.status, rejected.rejection_code) == ("rejected", "below_min_views")
    assert f"{rejected.views:,} views" in (rejected.rejection_reason or "")
    assert rejected.next_refresh_at is None
    tracking = await _post(committed, with_tier.posts[young])
    deadline = sandbox.video(Platform.TIKTOK, young).created_at + timedelta(days=7)
    assert tracking.status == "tracking"
    assert tracking.next_refresh_at is not None
    assert tracking.next_refresh_at <= deadline
    async with committed() as session:
        events = (
            await session.execute(select(PostEvent.post_id, PostEvent.to_status, PostEvent.code))
        ).all()
    assert sorted((e.to_status, e.code) for e in events) == [
        ("finalized", "auto_finalized"),
        ("rejected", "auto_rejected"),
    ]


async def test_without_a_tier_a_popular_video_waits_for_cpm_with_its_views_locked(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    popular = _aged(sandbox, clock, 7, 9, lambda n: n >= 1000, [])
    s = await seed(committed, [(Platform.TIKTOK, popular)], clock.now, cpm=None)
    await make_refresher().refresh_due(Platform.TIKTOK)
    post = await _post(committed, s.posts[popular])
    assert (post.status, post.locked_views, post.earnings) == ("pending_cpm", post.views, None)


async def test_finalized_views_and_earnings_never_change_while_tracking_goes_on(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    growing = find_video(
        Platform.TIKTOK,
        sandbox.anchor,
        lambda v: (
            timedelta(days=7) <= clock.now - v.created_at < timedelta(days=8)
            and 1000
            <= v.counts_at(clock.now).views
            < v.counts_at(clock.now + timedelta(days=2)).views
        ),
    )
    s = await seed(committed, [(Platform.TIKTOK, growing)], clock.now)
    await make_refresher().refresh_due(Platform.TIKTOK)
    locked = await _post(committed, s.posts[growing])
    assert locked.status == "finalized"
    assert locked.next_refresh_at is not None
    clock.now = locked.next_refresh_at + timedelta(days=1)
    assert await make_refresher().refresh_due(Platform.TIKTOK) == {"refreshed": 1}
    later = await _post(committed, s.posts[growing])
    assert later.views > locked.views
    assert (later.status, later.locked_views, later.earnings, later.finalized_at) == (
        "finalized",
        locked.locked_views,
        locked.earnings,
        locked.finalized_at,
    )
    assert await _count(committed, PostEvent) == 1


async def test_old_posts_are_fetched_until_they_leave_the_30_day_window(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    old = find_video(
        Platform.TIKTOK, sandbox.anchor, lambda v: clock.now - v.created_at > timedelta(days=31)
    )
    s = await seed(committed, [(Platform.TIKTOK, old)], clock.now)
    await make_refresher().refresh_due(Platform.TIKTOK)
    post = await _post(committed, s.posts[old])
    assert post.last_refreshed_at == clock.now
    assert post.next_refresh_at is None
    clock.advance(days=2)
    assert await make_refresher().refresh_due(Platform.TIKTOK) == {}


async def test_two_engines_at_once_never_fetch_the_same_post(
    committed: SM, make_refresher: Callable[[], Refresher], sandbox: Sandbox, clock: Clock
) -> None:
    ids: list[str] = []
    for _ in range(40):
        ids.append(_young(sandbox, clock, skip=ids))
    await seed(committed, [(Platform.TIKTOK, v) for v in ids], clock.now)
    first, second = await asyncio.gather(
        make_refresher().refresh_due(Platform.TIKTOK), make_refresher().refresh_due(Platform.TIKTOK)
    )
    assert first["refreshed"] + second["refreshed"] == 40
    fetched = [str(r.video_id) for r in sandbox.requests if r.provider == "tiktok_primary"]
    assert sorted(fetched) == sorted(ids)
    assert await _count(committed, StatsSnapshot) == 40


async def test_a_stale_deadline_is_fetched_first_and_decided_late_only_after_the_grace(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings, clock: Clock
) -> None:
    gone = tiktok_id(Magic.DELETED, 7)
    s = await seed(committed, [(Platform.TIKTOK, gone)], clock.now)
    async with committed() as session:
        # Deadline 12 hours ago; the last good fetch saw 2,500 views the day before it.
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=7, hours=12),
                views=2500,
                last_refreshed_at=clock.now - timedelta(days=2),
                next_refresh_at=clock.now + timedelta(hours=3),
            )
        )
        await session.commit()
    engine = make_refresher()
    grace = timedelta(hours=fast.decision_grace_hours)
    async with committed() as session:
        assert await lifecycle_sweep.sweep(session, clock.now, engine.policy, grace) == 0
        await session.commit()
    post = await _post(committed, s.posts[gone])
    assert (post.status, post.next_refresh_at) == ("tracking", clock.now)  # made due now
    await engine.refresh_due(Platform.TIKTOK)
    assert (await _post(committed, s.posts[gone])).consecutive_failures == 1
    clock.advance(days=1)
    async with committed() as session:
        assert await lifecycle_sweep.sweep(session, clock.now, engine.policy, grace) == 1
        await session.commit()
    decided = await _post(committed, s.posts[gone])
    assert (decided.status, decided.locked_views, decided.earnings) == (
        "finalized",
        2500,
        Decimal("11.25"),
    )
    async with committed() as session:
        reason = await session.scalar(select(PostEvent.reason))
    assert "did not answer" in (reason or "")


async def test_deciding_twice_changes_nothing(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    s = await seed(committed, [(Platform.TIKTOK, "111"), (Platform.TIKTOK, "222")], clock.now)
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=7), last_refreshed_at=clock.now
            )
        )
        await session.execute(update(Post).where(Post.platform_post_id == "111").values(views=999))
        await session.execute(update(Post).where(Post.platform_post_id == "222").values(views=1000))
        await session.commit()
    engine = make_refresher()
    for _ in range(2):
        async with committed() as session:
            await lifecycle_sweep.sweep(session, clock.now, engine.policy, timedelta(hours=24))
            await session.commit()
    assert (await _post(committed, s.posts["111"])).status == "rejected"
    assert (await _post(committed, s.posts["222"])).status == "finalized"
    assert (await _post(committed, s.posts["222"])).earnings == Decimal("4.50")
    assert await _count(committed, PostEvent) == 2


async def test_a_lease_keeps_a_post_from_a_second_worker_until_it_runs_out(
    committed: SM,
    make_refresher: Callable[[], Refresher],
    sandbox: Sandbox,
    clock: Clock,
    fast: Settings,
) -> None:
    vid = _young(sandbox, clock)
    s = await seed(committed, [(Platform.TIKTOK, vid)], clock.now)
    async with committed() as session:
        # A worker claimed it and died: the lease is set, nothing was written.
        await session.execute(
            update(Post).values(
                lease_expires_at=clock.now + timedelta(seconds=fast.claim_lease_seconds)
            )
        )
        await session.commit()
    assert await make_refresher().refresh_due(Platform.TIKTOK) == {}
    clock.advance(seconds=fast.claim_lease_seconds + 1)
    assert await make_refresher().refresh_due(Platform.TIKTOK) == {"refreshed": 1}
    assert (await _post(committed, s.posts[vid])).lease_expires_at is None


async def test_a_failing_post_past_its_deadline_keeps_its_backoff(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings, clock: Clock
) -> None:
    gone = tiktok_id(Magic.DELETED, 8)
    s = await seed(committed, [(Platform.TIKTOK, gone)], clock.now)
    async with committed() as session:
        await session.execute(
            update(Post).values(published_at=clock.now - timedelta(days=7, hours=1))
        )
        await session.commit()
    engine = make_refresher()
    await engine.refresh_due(Platform.TIKTOK)  # fails, after the deadline: backoff scheduled
    backoff = (await _post(committed, s.posts[gone])).next_refresh_at
    assert backoff == clock.now + timedelta(seconds=fast.failed_fetch_retry_seconds)
    clock.advance(seconds=10)
    async with committed() as session:
        await lifecycle_sweep.sweep(session, clock.now, engine.policy, timedelta(hours=24))
        await session.commit()
    post = await _post(committed, s.posts[gone])
    assert (post.status, post.next_refresh_at) == ("tracking", backoff)  # not made due again


async def test_a_restored_post_is_decided_again_only_on_stats_fetched_after_the_restore(
    committed: SM,
    make_refresher: Callable[[], Refresher],
    sandbox: Sandbox,
    clock: Clock,
) -> None:
    growing = find_video(
        Platform.TIKTOK,
        sandbox.anchor,
        lambda v: (
            timedelta(days=7) <= clock.now - v.created_at < timedelta(days=8)
            and v.counts_at(clock.now).views >= 1000
        ),
    )
    s = await seed(committed, [(Platform.TIKTOK, growing)], clock.now, min_views=10**9)
    engine = make_refresher()
    await engine.refresh_due(Platform.TIKTOK)
    assert (await _post(committed, s.posts[growing])).status == "rejected"
    clock.advance(minutes=1)
    async with committed() as session:
        # The admin lowers the bar and restores the post.
        await session.execute(text("UPDATE campaigns SET min_views = NULL"))
        await session.execute(
            update(Post).values(
                status="tracking",
                rejection_code=None,
                decide_after=clock.now,
                next_refresh_at=clock.now,
            )
        )
        await session.commit()
    clock.advance(seconds=5)
    async with committed() as session:
        assert (
            await lifecycle_sweep.sweep(session, clock.now, engine.policy, timedelta(hours=24)) == 0
        )
        await session.commit()
    assert (await _post(committed, s.posts[growing])).status == "tracking"
    await engine.refresh_due(Platform.TIKTOK)
    assert (await _post(committed, s.posts[growing])).status == "finalized"


async def test_a_worker_that_outlived_its_lease_cannot_overwrite_its_successor(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings, clock: Clock
) -> None:
    s = await seed(committed, [(Platform.TIKTOK, "4444")], clock.now)
    engine = make_refresher()
    stale, fresh = await outlived_lease(committed, engine.policy, fast, clock)
    late = VideoStats(1, 1, 1, 1, None, None, None, StatsSource.PRIMARY)
    async with committed() as session:
        landed = await write_results(session, [(stale, late)], clock.now, engine.policy)
        await session.commit()
    assert landed == {}
    post = await _post(committed, s.posts["4444"])
    assert (post.views, post.lease_expires_at) == (0, fresh.lease)
    assert await _count(committed, StatsSnapshot) == 0


class _Stuck:
    """A provider that never answers, so a sweep can be stopped mid-claim."""

    platform = Platform.TIKTOK

    async def fetch(self, video: VideoRef) -> FetchResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_warming_the_claims_claims_nothing(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    """A worker's startup builds its claims once (Refresher.warm) before the first sweep:
    every due post stays due, unleased, for that sweep or another worker's."""
    await seed(committed, [(Platform.TIKTOK, "7050"), (Platform.INSTAGRAM, "Cw7050")], clock.now)
    engine = make_refresher()
    await engine.warm()
    assert await _leased(committed) == 0
    assert sum((await engine.refresh_due(Platform.TIKTOK)).values()) == 1


async def test_a_stopped_sweep_hands_back_its_claim_and_the_one_taken_ahead(
    committed: SM, fast: Settings, clock: Clock
) -> None:
    await seed(committed, [(Platform.TIKTOK, str(7100 + i)) for i in range(6)], clock.now)
    small = fast.model_copy(update={"write_batch_max": 2, "tiktok_batch_size": 1})
    engine = Refresher(committed, {Platform.TIKTOK: _Stuck()}, small, clock=clock)
    sweep = asyncio.create_task(engine.refresh_due(Platform.TIKTOK))
    for _ in range(200):  # the first claim is being fetched, the next one taken ahead
        if await _leased(committed) == 4:
            break
        await asyncio.sleep(0.01)
    assert await _leased(committed) == 4
    sweep.cancel()
    await asyncio.gather(sweep, return_exceptions=True)
    assert await _leased(committed) == 0, "every claimed post is free for the next worker"


class _Held:
    """A provider whose answers wait until `answer` is set; it records what it was asked."""

    platform = Platform.TIKTOK

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.asked: list[str] = []

    async def fetch(self, video: VideoRef) -> FetchResult:
        self.asked.append(video.post_id)
        await self.answer.wait()
        return VideoStats(1500, 10, 1, 1, None, None, None, StatsSource.PRIMARY)


async def test_a_sweep_told_to_stop_finishes_the_batch_in_flight_and_hands_back_the_rest(
    committed: SM, fast: Settings, clock: Clock
) -> None:
    """The worker's SIGTERM (Refresher.stop): no claim after it; the batch being fetched is
    finished and written, the rest of its claim and the claim taken ahead are handed back
    at once, and the sweep ends by itself, not cancelled."""
    await seed(committed, [(Platform.TIKTOK, str(7200 + i)) for i in range(10)], clock.now)
    small = fast.model_copy(update={"write_batch_max": 4, "tiktok_batch_size": 2})
    held = _Held()
    engine = Refresher(committed, {Platform.TIKTOK: held}, small, clock=clock)
    sweep = asyncio.create_task(engine.refresh_due(Platform.TIKTOK))
    for _ in range(200):  # the first batch is in flight, the next claim taken ahead
        if await _leased(committed) == 8 and len(held.asked) == 2:
            break
        await asyncio.sleep(0.01)
    assert await _leased(committed) == 8
    engine.stop()
    held.answer.set()
    totals = await asyncio.wait_for(sweep, 10)
    assert totals.pop("handed_back") == 6
    assert sum(totals.values()) == 2  # the batch in flight, written
    assert len(held.asked) == 2  # nothing fetched after the stop
    assert await _count(committed, StatsSnapshot) == 2
    assert await _leased(committed) == 0, "every claimed post is free for the next worker"
    # A sweep that starts after the stop claims nothing.
    assert await engine.refresh_due(Platform.TIKTOK) == {}
    assert await _leased(committed) == 0


async def test_a_sweep_s_first_claim_is_a_few_batches_and_the_next_a_whole_claim(
    committed: SM, fast: Settings, clock: Clock
) -> None:
    """A lane's first claim is joined to the sweep's runs by a second write of its posts, and
    its first request waits for both: it takes a few batches. The claim taken ahead while
    they are fetched is whole, and joins its posts to the run as it claims them: one run of
    all twenty."""
    await seed(committed, [(Platform.TIKTOK, str(7300 + i)) for i in range(20)], clock.now)
    small = fast.model_copy(update={"write_batch_max": 8, "tiktok_batch_size": 1})
    held = _Held()
    engine = Refresher(committed, {Platform.TIKTOK: held}, small, clock=clock)
    sweep = asyncio.create_task(engine.refresh_due(Platform.TIKTOK))
    for _ in range(200):  # the first batch in flight, the next claim taken ahead
        if await _leased(committed) == 12 and len(held.asked) == 1:
            break
        await asyncio.sleep(0.01)
    assert await _leased(committed) == 4 + 8
    held.answer.set()
    totals = await asyncio.wait_for(sweep, 10)
    assert totals == {"refreshed": 20}
    async with committed() as session:
        runs = (await session.scalars(select(RefreshRun))).all()
    assert [(r.kind, r.queued, r.finished_at is not None) for r in runs] == [
        ("scheduled", 20, True)
    ]


async def _leased(sm: SM) -> int:
    async with sm() as session:
        stmt = select(func.count()).select_from(Post).where(Post.lease_expires_at.is_not(None))
        return int(await session.scalar(stmt) or 0)
