"""The result writer decides a batch from what it read before writing (issue 23): what the
answers call for (holds, flags, decisions) is decided only for the posts whose write lands,
those still carrying the claim's lease."""

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform, StatsSource
from app.models import Post, PostEvent, PostFlag, PostHold, RawAnswer, StatsSnapshot
from app.platforms.contract import VideoStats
from app.platforms.sandbox.videos import video_at
from app.services.refresh_results import write as write_results
from app.settings import Settings
from app.workers import result_queue
from app.workers.refresher import Refresher
from tests.engine_kit import Clock, claim_due, outlived_lease, seed

SM = async_sessionmaker[AsyncSession]


async def test_a_stale_answer_calling_for_a_hold_and_a_flag_raises_neither(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings, clock: Clock
) -> None:
    """A worker that outlived its lease writes an answer by someone else, with many views and
    no engagement: its successor holds the post now, so nothing of that answer lands, neither
    the author-mismatch hold nor the low-engagement flag nor their events."""
    s = await seed(committed, [(Platform.TIKTOK, "4545")], clock.now)
    engine = make_refresher()
    stale, _ = await outlived_lease(committed, engine.policy, fast, clock)
    impostor = VideoStats(
        5_000_000, 0, 0, 0, "someone_else", "6899999999999999999", None, StatsSource.PRIMARY
    )
    before = await _marks(committed, s.posts["4545"])
    async with committed() as session:
        landed = await write_results(session, [(stale, impostor)], clock.now, engine.policy)
        await session.commit()
    assert landed == {}
    assert await _marks(committed, s.posts["4545"]) == before == [0, 0, before[2]]


async def _marks(sm: SM, post_id: object) -> list[int]:
    """The post's holds, flags and events, counted."""
    async with sm() as session:
        return [
            int(await session.scalar(select(func.count()).where(model.post_id == post_id)) or 0)
            for model in (PostHold, PostFlag, PostEvent)
        ]


async def test_two_answers_for_one_post_in_one_batch_land_once(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings, clock: Clock
) -> None:
    """A claim's lease ran out while its answer waited for the writer, and a second claim
    fetched the post again: both answers reach one batch. The newest claim's lands, once:
    one snapshot with its raw answer, the post at its views. (A 100,000-post soak's writer
    failed on the raw answers' key with such batches and fell back to one write a post.)"""
    s = await seed(committed, [(Platform.TIKTOK, "4545")], clock.now)
    engine = make_refresher()
    stale, fresh = await outlived_lease(committed, engine.policy, fast, clock)
    video = video_at(Platform.TIKTOK, "4545", clock.now, clock.now)

    def answer(views: int) -> VideoStats:
        return VideoStats(
            views, 100, 10, 1, video.handle, video.user_id, None, StatsSource.PRIMARY,
            raw=f'{{"play_count":{views}}}'.encode(),
        )  # fmt: skip

    async with committed() as session:
        landed = await write_results(
            session, [(stale, answer(1_000)), (fresh, answer(1_200))], clock.now, engine.policy
        )
        await session.commit()
    assert landed == {"refreshed": 1}
    async with committed() as session:
        snapshots = (
            await session.execute(
                select(StatsSnapshot.views, RawAnswer.snapshot_id)
                .outerjoin(RawAnswer, RawAnswer.snapshot_id == StatsSnapshot.id)
                .where(StatsSnapshot.post_id == s.posts["4545"])
            )
        ).all()
        post = await session.get(Post, s.posts["4545"])
    assert [views for views, _ in snapshots] == [1_200]
    assert all(raw is not None for _, raw in snapshots)
    assert post is not None
    assert post.views == 1_200


async def test_a_writer_behind_writes_what_has_queued_in_one_write(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings
) -> None:
    """Results queued while the writer was busy go out together (up to `write_batch_max`
    posts), not `write_batch_min` at a time: a writer behind catches up in few large writes
    (issue 24)."""
    ticks = Clock()  # each write reads the clock once: its posts share their refresh time
    s = await seed(committed, [(Platform.TIKTOK, str(4600 + i)) for i in range(5)], ticks.now)
    engine = make_refresher()
    due = await claim_due(committed, engine.policy, fast, ticks, limit=5)
    answers = [(p, VideoStats(2_000, 50, 5, 1, None, None, None, StatsSource.PRIMARY)) for p in due]
    settings = fast.model_copy(
        update={"write_batch_min": 1, "write_batch_max": 20, "write_linger_seconds": 0}
    )

    def clock() -> datetime:
        ticks.advance(seconds=1)
        return ticks.now

    totals: Counter[str] = Counter()

    async def queue_all() -> None:
        # One post a batch, all queued before the writer first runs, and the end of the
        # sweep behind them (the queue holds ten).
        async with result_queue.writing(
            committed, settings, engine.policy, clock, Platform.TIKTOK, 1, totals
        ) as put:
            for item in answers:
                await put([item])

    await asyncio.wait_for(queue_all(), 10)  # the writer sees the end among what it takes
    assert totals == {"refreshed": 5}
    async with committed() as session:
        refreshed = await session.scalars(
            select(Post.last_refreshed_at).where(Post.id.in_(s.posts.values()))
        )
        writes = Counter(refreshed)
    assert list(writes.values()) == [5]
