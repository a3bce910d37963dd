"""Deadline first under overload, and capacity made visible: the claim's order with a small
limit, the capacity figures for a small seeded set, and /health/ready's warning."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from app.domain.enums import Platform, PostStatus
from app.domain.policy import Policy
from app.models import Post
from app.repositories import claims
from app.services.readiness import CAPACITY_KEY
from app.settings import Settings
from app.workers import capacity
from tests.engine_kit import SM, Clock, seed

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


async def shape(committed: SM, post_id: uuid.UUID, clock: Clock, **values: Any) -> None:
    """Set a seeded post's status, age and schedule straight in the database."""
    async with committed() as session:
        await session.execute(update(Post).where(Post.id == post_id).values(**values))
        await session.commit()


async def seed_classes(committed: SM, clock: Clock) -> dict[str, uuid.UUID]:
    now = clock.now
    videos = [(Platform.TIKTOK, str(20_000 + i)) for i in range(5)]
    seeded = await seed(committed, videos, now)
    ids = list(seeded.posts.values())
    rows = {
        # 6 d 20 h old: decided in 4 h, the least overdue of all
        "urgent": dict(
            status=PostStatus.TRACKING,
            published_at=now - 6 * DAY - 20 * HOUR,
            next_refresh_at=now - timedelta(minutes=1),
            last_refreshed_at=now - 6 * HOUR,
        ),
        "active_3h": dict(
            status=PostStatus.TRACKING,
            published_at=now - DAY,
            next_refresh_at=now - 3 * HOUR,
            last_refreshed_at=now - 9 * HOUR,
        ),
        "active_1h": dict(
            status=PostStatus.PENDING_CPM,
            published_at=now - 10 * DAY,
            next_refresh_at=now - HOUR,
            last_refreshed_at=now - 7 * HOUR,
        ),
        # the most overdue of all, but settled
        "settled_20h": dict(
            status=PostStatus.FINALIZED,
            published_at=now - 10 * DAY,
            next_refresh_at=now - 20 * HOUR,
            last_refreshed_at=now - 44 * HOUR,
        ),
        "settled_5h": dict(
            status=PostStatus.PAID,
            published_at=now - 12 * DAY,
            next_refresh_at=now - 5 * HOUR,
            last_refreshed_at=now - 29 * HOUR,
        ),
    }
    for post_id, values in zip(ids, rows.values(), strict=True):
        await shape(committed, post_id, clock, **values)
    return dict(zip(rows, ids, strict=True))


async def claim_names(
    committed: SM, clock: Clock, policy: Policy, limit: int, names: dict[uuid.UUID, str]
) -> set[str]:
    async with committed() as session:
        due = await claims.claim(
            session, Platform.TIKTOK, now=clock.now, limit=limit, lease=HOUR, policy=policy
        )
        await session.commit()
    return {names[p.id] for p in due}


async def test_under_overload_deadline_comes_first_then_active_by_overdue_then_settled(
    committed: SM, clock: Clock, settings: Settings
) -> None:
    policy = Policy.from_settings(settings)
    ids = await seed_classes(committed, clock)
    names = {v: k for k, v in ids.items()}
    # Two at a time: fewer fetches than due posts.
    assert await claim_names(committed, clock, policy, 2, names) == {"urgent", "active_3h"}
    assert await claim_names(committed, clock, policy, 2, names) == {"active_1h", "settled_20h"}
    assert await claim_names(committed, clock, policy, 2, names) == {"settled_5h"}
    assert await claim_names(committed, clock, policy, 2, names) == set()


async def test_when_capacity_meets_demand_no_class_starves(
    committed: SM, clock: Clock, settings: Settings
) -> None:
    policy = Policy.from_settings(settings)
    ids = await seed_classes(committed, clock)
    names = {v: k for k, v in ids.items()}
    assert await claim_names(committed, clock, policy, 10, names) == set(ids)


async def test_capacity_figures_for_a_small_set_and_readiness_warns_when_overloaded(
    committed: SM, clock: Clock, settings: Settings, redis: Redis, client: httpx.AsyncClient
) -> None:
    policy = Policy.from_settings(settings)
    await seed_classes(committed, clock)
    lanes = {Platform.TIKTOK: (2, 1), Platform.INSTAGRAM: (1, 0)}
    async with committed() as session:
        figures = await capacity.measure(session, clock.now, policy, settings, lanes)

    tiktok = figures[Platform.TIKTOK]
    # Three active posts every 6 h, two settled daily.
    assert tiktok.needed_per_hour == pytest.approx(3 / 6 + 2 / 24)
    per_batch = settings.tiktok_batch_pause_seconds + settings.tiktok_batch_latency_seconds
    assert tiktok.available_per_hour == settings.tiktok_batch_size * 3600 / per_batch  # 1 of 2
    assert (tiktok.lanes, tiktok.parked_lanes) == (2, 1)
    s = tiktok.staleness
    assert (s["deadline"].posts, s["active"].posts, s["settled"].posts) == (1, 2, 2)
    assert s["deadline"].max_s == s["deadline"].p50_s == 6 * 3600
    assert s["active"].max_s == 9 * 3600
    assert s["active"].interval_s == 6 * 3600
    assert s["settled"].max_s == 44 * 3600
    assert s["settled"].interval_s == 24 * 3600
    assert s["settled"].p50_s == (44 + 29) / 2 * 3600
    assert figures[Platform.INSTAGRAM].needed_per_hour == 0
    # One request, then the spacing after its answer: 1 per (3 s + latency), not 1 per 3 s.
    per_request = (
        settings.instagram_request_spacing_seconds + settings.instagram_request_latency_seconds
    )
    assert figures[Platform.INSTAGRAM].available_per_hour == pytest.approx(3600 / per_request)
    assert figures[Platform.INSTAGRAM].available_per_hour < 1200
    assert not tiktok.overloaded

    # The worker publishes; the API reads. Within capacity: pass.
    await capacity.publish(redis, figures, 60)
    check = (await client.get("/health/ready")).json()["checks"]["providers:capacity"][0]
    assert check["status"] == "pass"
    assert check["observedValue"]["tiktok"]["lanes"] == 2

    # More demand than the lanes can do: a warning, not a failure.
    starved = {Platform.TIKTOK: (1, 1), Platform.INSTAGRAM: (1, 0)}
    async with committed() as session:
        figures = await capacity.measure(session, clock.now, policy, settings, starved)
    assert figures[Platform.TIKTOK].overloaded
    await capacity.publish(redis, figures, 60)
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "warn"
    check = body["checks"]["providers:capacity"][0]
    assert check["status"] == "warn"
    assert "tiktok needs" in check["output"]
    assert await redis.exists(CAPACITY_KEY)


async def test_watched_accounts_listings_count_in_the_capacity_figures(
    committed: SM, clock: Clock, settings: Settings, redis: Redis, client: httpx.AsyncClient
) -> None:
    """Issue 29: each enabled watch lists its account once an interval, at the lanes' pace,
    so its listings are part of what the provider must do."""
    policy = Policy.from_settings(settings)
    lanes = {Platform.TIKTOK: (1, 0), Platform.INSTAGRAM: (1, 0)}
    watched = {Platform.TIKTOK: 12, Platform.INSTAGRAM: 3}
    async with committed() as session:
        figures = await capacity.measure(session, clock.now, policy, settings, lanes, watched)
    tiktok = figures[Platform.TIKTOK]
    assert tiktok.watched_accounts == 12
    assert tiktok.listings_per_hour == pytest.approx(12 / settings.watch_interval_hours)
    assert tiktok.needed_per_hour == pytest.approx(12 / settings.watch_interval_hours)
    assert figures[Platform.INSTAGRAM].needed_per_hour == pytest.approx(3 / 6)
    await capacity.publish(redis, figures, 60)
    check = (await client.get("/health/ready")).json()["checks"]["providers:capacity"][0]
    assert check["observedValue"]["tiktok"]["listings_per_hour"] == 2
