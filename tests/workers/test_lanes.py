"""Provider lanes against the real Redis and PostgreSQL: each key its own pacing, held across
processes (two sets of lanes on two Redis connections, as two worker processes build them),
and a lane whose key is refused parked while the other carries on."""

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from app.domain.enums import Platform
from app.models import Post
from app.platforms.sandbox import Magic, Sandbox, create_app, instagram_shortcode
from app.settings import Settings
from app.workers import lanes
from app.workers.lanes import LANE_FETCHES, LANE_PARKS, Parking
from app.workers.refresher import Refresher
from tests.engine_kit import SM, Clock, answer, seed

KEYS = ("key-one-secret", "key-two-secret")


def test_keys_settings_make_one_lane_each_and_single_keys_still_count(
    settings: Settings,
) -> None:
    many = settings.model_copy(update={"instagram_api_keys": " a , b,, c "})
    assert many.lane_keys(many.instagram_api_key, many.instagram_api_keys) == ["a", "b", "c"]
    one = settings.model_copy(update={"instagram_api_key": "solo"})
    assert one.lane_keys(one.instagram_api_key, one.instagram_api_keys) == ["solo"]
    assert settings.lane_keys(None, "") == [None]  # no key: one keyless lane
    # Live mode needs the backup's and Instagram's keys; lists of keys are enough.
    live = Settings(
        provider_mode="live",
        tiktok_primary_base_url="https://p.example",
        tiktok_backup_base_url="https://b.example",
        instagram_base_url="https://i.example",
        tiktok_backup_api_keys="b1,b2",
        instagram_api_keys="i1",
        secret_key="a-production-secret-key-of-at-least-32-bytes",
    )
    assert live.provider_mode.value == "live"
    with pytest.raises(ValueError, match="INSTAGRAM_API_KEY"):
        Settings(
            provider_mode="live",
            tiktok_primary_base_url="https://p.example",
            tiktok_backup_base_url="https://b.example",
            instagram_base_url="https://i.example",
            tiktok_backup_api_keys="b1",
        )


async def test_two_keys_pace_independently_and_each_lane_holds_across_processes(
    settings: Settings, redis: Redis, http: httpx.AsyncClient
) -> None:
    paced = settings.model_copy(
        update={
            "tiktok_primary_api_keys": ",".join(KEYS),
            "instagram_api_keys": ",".join(KEYS),
            "tiktok_batch_pause_seconds": 0.2,
            "instagram_request_spacing_seconds": 0.2,
        }
    )
    other_redis = Redis.from_url(settings.redis_url)  # the second worker process's connection
    try:
        first = lanes.build(paced, http, redis)
        second = lanes.build(paced, http, other_redis)
        tiktok, tiktok_2 = first[Platform.TIKTOK], second[Platform.TIKTOK]
        assert len(tiktok) == 2
        assert len({lane.id for lane in tiktok}) == 2
        assert [lane.id for lane in tiktok] == [lane.id for lane in tiktok_2]
        assert all(key not in lane.id for lane in tiktok for key in KEYS)

        loop = asyncio.get_running_loop()
        entered: list[str] = []

        async def enter(lane: lanes.Lane, name: str) -> None:
            assert lane.gate is not None
            async with lane.gate.turns() as turns, turns.batch():
                entered.append(name)

        a1, b2, a2 = tiktok[0].gate, tiktok_2[1].gate, tiktok_2[0].gate
        assert a1 is not None
        assert b2 is not None
        assert a2 is not None
        async with a1.turns() as turns:
            async with turns.batch():  # process 1 holds lane A
                same_lane = asyncio.create_task(enter(tiktok_2[0], "A in process 2"))
                # Lane B is another key: process 2 goes through it while lane A is held.
                await asyncio.wait_for(enter(tiktok_2[1], "B in process 2"), 5)
                await asyncio.sleep(0.05)
                assert not same_lane.done()
            released = loop.time()
        await asyncio.wait_for(same_lane, 5)
        assert entered == ["B in process 2", "A in process 2"]
        assert loop.time() - released >= 0.19  # lane A's pause held in the other process

        # Instagram: one request in flight per lane, the next one the spacing after its
        # answer, across processes; another lane is not held up.
        ig, ig_2 = first[Platform.INSTAGRAM], second[Platform.INSTAGRAM]
        spacers = [lane.client._retrier._pace for lane in (*ig, *ig_2)]  # type: ignore[attr-defined]
        assert all(s is not None for s in spacers)
        answered_a = await spacers[0]()  # lane A, process 1: a request in flight
        answered_b = await asyncio.wait_for(spacers[3](), 5)  # lane B, process 2
        await answer(answered_b)
        names = sorted(
            [k.decode() async for k in redis.scan_iter(match="viewledger:pace:instagram:*")]
        )
        assert names == sorted(f"viewledger:pace:instagram:{lane.id}" for lane in ig), names
        assert all(key not in name for name in names for key in KEYS)
        same_lane_ig = asyncio.create_task(spacers[2]())  # lane A, process 2
        await asyncio.sleep(0.3)  # longer than the spacing: the answer has not come yet
        assert not same_lane_ig.done()
        await answer(answered_a)
        answered = loop.time()
        await answer(await asyncio.wait_for(same_lane_ig, 5))
        assert loop.time() - answered >= 0.19  # the spacing, from the answer
    finally:
        await other_redis.aclose()


async def test_a_refused_lane_is_parked_and_the_other_lane_carries_on(
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    clock: Clock,
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    find_instagram: Callable[[int], list[str]],
) -> None:
    settings = fast.model_copy(update={"instagram_api_keys": "bad-key,good-key-secret"})
    provider_lanes = lanes.build(settings, http, redis)
    bad, good = provider_lanes[Platform.INSTAGRAM]
    refresher = Refresher(committed, {}, settings, provider_lanes=provider_lanes, clock=clock)
    videos = find_instagram(6)
    seeded = await seed(committed, [(Platform.INSTAGRAM, v) for v in videos], clock.now)
    parks_before = LANE_PARKS.labels("instagram", bad.id)._value.get()

    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # the next sweep serves what the parked lane handed back
            await refresher.refresh_due(Platform.INSTAGRAM)

    async with committed() as session:
        posts = (
            await session.execute(select(Post).where(Post.id.in_(seeded.posts.values())))
        ).scalars()
        assert all(p.last_refreshed_at is not None for p in posts)
        assert (
            await session.scalar(select(Post.id).where(Post.last_error_code.is_not(None)).limit(1))
        ) is None
    assert await redis.exists(Parking.key(bad))
    assert not await redis.exists(Parking.key(good))
    assert await bad.parked()
    assert not await good.parked()
    assert LANE_PARKS.labels("instagram", bad.id)._value.get() == parks_before + 1
    parked_logs = [r.getMessage() for r in caplog.records if "parked" in r.getMessage()]
    assert parked_logs
    assert bad.id in parked_logs[0]
    assert not any(
        "bad-key" in r.getMessage() or "good-key" in r.getMessage() for r in caplog.records
    )
    # Tried again once the park is over.
    await redis.delete(Parking.key(bad))
    assert not await bad.parked()


@pytest.fixture
def find_instagram(clock: Clock) -> Callable[[int], list[str]]:
    from tests.engine_kit import find_videos

    def find(n: int) -> list[str]:
        return find_videos(Platform.INSTAGRAM, clock.now, lambda v: True, n)

    return find


async def test_posts_that_come_due_during_a_sweep_are_shared_by_every_lane(
    committed: SM,
    settings: Settings,
    redis: Redis,
    clock: Clock,
    find_instagram: Callable[[int], list[str]],
) -> None:
    """One lane busy with a slow answer keeps the sweep going; the posts that come due
    meanwhile go to the other lane too (which found nothing due at first), so a second key
    adds capacity in the steady state, not only when a backlog is waiting."""
    paced = settings.model_copy(
        update={
            "instagram_api_keys": ",".join(KEYS),
            "instagram_request_spacing_seconds": 0.1,
            # Claims of one post, so the first claim cannot take what comes due later.
            "claim_lease_seconds": 0.8,
            "provider_max_attempts": 1,
        }
    )
    sandbox = Sandbox(now=clock, slow_seconds=1.5, retry_after_seconds=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox))) as http:
        provider_lanes = lanes.build(paced, http, redis)
        refresher = Refresher(committed, {}, paced, provider_lanes=provider_lanes, clock=clock)
        slow = instagram_shortcode(Magic.SLOW, 1)
        later = find_instagram(6)
        s = await seed(committed, [(Platform.INSTAGRAM, v) for v in (slow, *later)], clock.now)
        async with committed() as session:  # only the slow one is due when the sweep starts
            await session.execute(
                update(Post)
                .where(Post.platform_post_id.in_(later))
                .values(next_refresh_at=clock.now + timedelta(hours=1))
            )
            await session.commit()

        async def come_due() -> None:
            await asyncio.sleep(0.3)  # while the slow answer is awaited
            async with committed() as session:
                await session.execute(
                    update(Post)
                    .where(Post.platform_post_id.in_(later))
                    .values(next_refresh_at=clock.now)
                )
                await session.commit()

        before = {lane.id: _fetched(lane) for lane in provider_lanes[Platform.INSTAGRAM]}
        due_later = asyncio.create_task(come_due())
        totals = await refresher.refresh_due(Platform.INSTAGRAM)
        await due_later

    assert totals["refreshed"] == 7  # all in the one sweep
    per_lane = [_fetched(lane) - before[lane.id] for lane in provider_lanes[Platform.INSTAGRAM]]
    assert sorted(per_lane)[0] >= 1, per_lane  # both lanes fetched
    async with committed() as session:
        refreshed = await session.scalar(
            select(func.count()).where(
                Post.id.in_(s.posts.values()), Post.last_refreshed_at.is_not(None)
            )
        )
    assert refreshed == 7


def _fetched(lane: lanes.Lane) -> float:
    """Every fetch through the lane so far, whatever its outcome."""
    return sum(
        sample.value
        for metric in LANE_FETCHES.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["lane"] == lane.id
    )
