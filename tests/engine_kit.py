"""Helpers for tests of the tracking engine: a controllable clock, the sandbox served
in-process, posts seeded straight into the database with real commits, claims taken by hand,
days of refreshes, and a YouTube-only engine on its quota. Its fixtures are loaded for every
test (conftest's pytest_plugins)."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.domain.policy import Policy
from app.domain.refresh import DuePost
from app.models import Campaign, CampaignMember, CpmTier, Creator, Organization, Post
from app.platforms.registry import build_clients
from app.platforms.retry import Answered
from app.platforms.sandbox import Sandbox, SyntheticVideo, create_app, synthetic_video
from app.platforms.sandbox.videos import video_at
from app.repositories import claims
from app.settings import Settings
from app.workers.lanes import Lane, youtube_lanes
from app.workers.pacing import BatchGate, Spacer
from app.workers.quota import DailyQuota
from app.workers.refresher import Refresher

SM = async_sessionmaker[AsyncSession]


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def find_videos(
    platform: Platform,
    anchor: datetime,
    wanted: Callable[[SyntheticVideo], bool],
    n: int,
    *,
    skip: Iterable[str] = (),
) -> list[str]:
    """The first `n` plain (non-magic) ids whose synthetic videos satisfy `wanted`, in one
    pass (finding them one at a time rescans from the start: seconds for a few hundred)."""
    taken = set(skip)
    found: list[str] = []
    for i in range(1, 500_000):
        post_id = str(10_000 + i) if platform is Platform.TIKTOK else f"Cx{i:09d}"
        if post_id not in taken and wanted(synthetic_video(platform, post_id, anchor)):
            found.append(post_id)
            if len(found) == n:
                return found
    raise AssertionError("not enough sandbox videos match")


def find_video(
    platform: Platform,
    anchor: datetime,
    wanted: Callable[[SyntheticVideo], bool],
    *,
    skip: Iterable[str] = (),
) -> str:
    """The first plain (non-magic) id whose synthetic video satisfies `wanted`."""
    return find_videos(platform, anchor, wanted, 1, skip=skip)[0]


@dataclass
class Seeded:
    organization_id: uuid.UUID
    campaign_id: uuid.UUID
    tier_id: uuid.UUID | None
    posts: dict[str, uuid.UUID]  # platform post id -> post id


async def seed(
    sessionmaker: async_sessionmaker[AsyncSession],
    videos: Iterable[tuple[Platform, str]],
    now: datetime,
    *,
    cpm: str | None = "4.5000",
    cap: str | None = None,
    min_views: int | None = None,
    finalize_after_days: int | None = None,
) -> Seeded:
    async with sessionmaker() as session:
        org = Organization(name="Engine")
        session.add(org)
        await session.flush()
        campaign = Campaign(
            organization_id=org.id,
            name="Launch",
            min_views=min_views,
            finalize_after_days=finalize_after_days,
        )
        session.add(campaign)
        await session.flush()
        tier = None
        if cpm is not None:
            tier = CpmTier(
                organization_id=org.id,
                campaign_id=campaign.id,
                name="Standard",
                cpm=Decimal(cpm),
                cap=None if cap is None else Decimal(cap),
            )
            session.add(tier)
            await session.flush()
        posts: dict[str, uuid.UUID] = {}
        creators: dict[tuple[Platform, str], Creator] = {}
        for platform, post_id in videos:
            # Each video's own author (as the sandbox answers), so fetches verify authorship.
            video = video_at(platform, post_id, now, now)
            handle = video.handle
            creator = creators.get((platform, handle))
            if creator is None:
                # A YouTube creator is named by their channel id (answers name no handle).
                creator = creators[(platform, handle)] = Creator(
                    organization_id=org.id,
                    platform=platform,
                    handle=handle,
                    platform_user_id=video.user_id if platform is Platform.YOUTUBE else None,
                )
                session.add(creator)
                await session.flush()
                session.add(
                    CampaignMember(
                        organization_id=org.id, campaign_id=campaign.id, creator_id=creator.id
                    )
                )
            post = Post(
                organization_id=org.id,
                campaign_id=campaign.id,
                creator_id=creator.id,
                platform=platform.value,
                platform_post_id=post_id,
                url=f"https://example.invalid/{post_id}",
                cpm_tier_id=None if tier is None else tier.id,
                created_at=now - timedelta(seconds=1),
                next_refresh_at=now - timedelta(seconds=1),
            )
            session.add(post)
            await session.flush()
            posts[post_id] = post.id
        await session.commit()
        return Seeded(org.id, campaign.id, None if tier is None else tier.id, posts)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Sandbox:
    return Sandbox(now=clock, slow_seconds=0.05, retry_after_seconds=0)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Pauses and backoffs shrunk so tests run fast; pacing itself is tested elsewhere."""
    return settings.model_copy(
        update={
            "tiktok_batch_pause_seconds": 0,
            "instagram_request_spacing_seconds": 0,
            "provider_backoff_base_seconds": 0,
            "provider_backoff_max_seconds": 0,
            "provider_retry_after_cap_seconds": 0,
            "provider_max_attempts": 2,
        }
    )


@pytest.fixture
async def http(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox))) as client:
        yield client


@pytest.fixture
def make_refresher(
    committed: SM, fast: Settings, http: httpx.AsyncClient, redis: Redis, clock: Clock
) -> Callable[[], Refresher]:
    def make() -> Refresher:
        clients = build_clients(
            fast, http, {Platform.INSTAGRAM: Spacer(redis, "test:pace:instagram", 0)}
        )
        gates = {Platform.TIKTOK: BatchGate(redis, "test:pace:tiktok", 0)}
        return Refresher(committed, clients, fast, gates=gates, clock=clock)

    return make


async def claim_due(
    sessionmaker: SM,
    policy: Policy,
    settings: Settings,
    clock: Clock,
    *,
    platform: Platform = Platform.TIKTOK,
    limit: int = 1,
) -> list[DuePost]:
    """Due posts claimed (and committed) as a sweep claims them, for a test that writes their
    answers by hand."""
    async with sessionmaker() as session:
        due = await claims.claim(
            session,
            platform,
            now=clock.now,
            limit=limit,
            lease=timedelta(seconds=settings.claim_lease_seconds),
            policy=policy,
        )
        await session.commit()
        return list(due)


async def outlived_lease(
    sessionmaker: SM, policy: Policy, settings: Settings, clock: Clock
) -> tuple[DuePost, DuePost]:
    """The one due post claimed, its lease run out, and claimed again: (the claim of a worker
    that outlived its lease, its successor's)."""
    (stale,) = await claim_due(sessionmaker, policy, settings, clock)
    clock.advance(seconds=settings.claim_lease_seconds + 1)
    (fresh,) = await claim_due(sessionmaker, policy, settings, clock)
    return stale, fresh


async def refresh_days(
    sessionmaker: SM, make_refresher: Callable[[], Refresher], clock: Clock, days: int
) -> None:
    """A fetch of every TikTok and Instagram post each day, for `days` days."""
    for _ in range(days):
        await make_refresher().refresh_due(Platform.TIKTOK)
        await make_refresher().refresh_due(Platform.INSTAGRAM)
        clock.advance(days=1)
        async with sessionmaker() as session:
            await session.execute(
                text("UPDATE posts SET next_refresh_at = :now"), {"now": clock.now}
            )
            await session.commit()


@dataclass
class YouTube:
    """YouTube's refresh on its lane's daily quota: the sandbox's videos.list in-process."""

    committed: SM
    settings: Settings
    http: httpx.AsyncClient
    redis: Redis
    clock: Clock
    sandbox: Sandbox

    def quick(self, **more: object) -> Settings:
        """No pauses, no retries; `more` on top."""
        return self.settings.model_copy(
            update={
                "youtube_batch_pause_seconds": 0,
                "provider_backoff_base_seconds": 0,
                "provider_max_attempts": 1,
                **more,
            }
        )

    def engine(self, settings: Settings | None = None) -> Refresher:
        """A YouTube-only refresher, on `quick()` settings unless given others."""
        settings = settings or self.quick()
        lanes = youtube_lanes(settings, self.http, self.redis, None, now=self.clock)
        return Refresher(
            self.committed,
            {},
            settings,
            clock=self.clock,
            provider_lanes={Platform.YOUTUBE: lanes},
        )

    async def seed(self, post_ids: Iterable[str]) -> Seeded:
        return await seed(self.committed, [(Platform.YOUTUBE, i) for i in post_ids], self.clock.now)

    def calls(self) -> int:
        """Requests the sandbox's YouTube answered."""
        return sum(1 for r in self.sandbox.requests if r.provider == "youtube")


def quota_lane(engine: Refresher) -> tuple[Lane, DailyQuota]:
    """The engine's one YouTube lane, and its quota."""
    [lane] = engine.lanes[Platform.YOUTUBE]
    assert lane.quota is not None
    return lane, lane.quota


@pytest.fixture
def shorts(
    committed: SM,
    settings: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    clock: Clock,
    sandbox: Sandbox,
) -> YouTube:
    return YouTube(committed, settings, http, redis, clock, sandbox)


async def answer(answered: Answered) -> None:
    """A paced request's answer, told to its pacer as the retrier tells it."""
    if (pausing := answered()) is not None:
        await pausing
