"""Provider lanes against the real Redis and PostgreSQL: each key its own pacing, held across
processes (two sets of lanes on two Redis connections, as two worker processes build them),
and a lane whose key is refused parked while the other carries on."""

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from app.domain.enums import Platform
from app.models import Post
from app.platforms.sandbox import Sandbox
from app.settings import Settings
from app.workers import lanes
from app.workers.lanes import LANE_PARKS, Parking
from app.workers.refresher import Refresher
from tests.engine_kit import SM, Clock, seed

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

        # Instagram: request starts spaced per lane, across processes.
        ig, ig_2 = first[Platform.INSTAGRAM], second[Platform.INSTAGRAM]
        spacers = [lane.client._retrier._pace for lane in (*ig, *ig_2)]  # type: ignore[attr-defined]
        assert all(s is not None for s in spacers)
        await spacers[0]()  # lane A, process 1
        start = loop.time()
        await spacers[3]()  # lane B, process 2: its own spacing, nothing reserved yet
        names = sorted(
            [k.decode() async for k in redis.scan_iter(match="viewledger:pace:instagram:*")]
        )
        assert names == sorted(f"viewledger:pace:instagram:{lane.id}" for lane in ig), names
        assert all(key not in name for name in names for key in KEYS)
        await spacers[2]()  # lane A, process 2: waits for lane A's spacing
        assert loop.time() - start >= 0.15
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
    from tests.engine_kit import find_video

    def find(n: int) -> list[str]:
        found: list[str] = []
        for _ in range(n):
            found.append(find_video(Platform.INSTAGRAM, clock.now, lambda v: True, skip=found))
        return found

    return find
