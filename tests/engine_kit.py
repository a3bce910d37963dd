"""Helpers for tests of the tracking engine: a controllable clock, the sandbox served
in-process, and posts seeded straight into the database with real commits. Its fixtures are
loaded for every test (conftest's pytest_plugins)."""

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Campaign, CampaignMember, CpmTier, Creator, Organization, Post
from app.platforms.registry import build_clients
from app.platforms.sandbox import Sandbox, SyntheticVideo, create_app, synthetic_video
from app.platforms.sandbox.videos import video_at
from app.settings import Settings
from app.workers.pacing import BatchGate, Spacer
from app.workers.refresher import Refresher

SM = async_sessionmaker[AsyncSession]


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def find_video(
    platform: Platform,
    anchor: datetime,
    wanted: Callable[[SyntheticVideo], bool],
    *,
    skip: Iterable[str] = (),
) -> str:
    """The first plain (non-magic) id whose synthetic video satisfies `wanted`."""
    taken = set(skip)
    for i in range(1, 500_000):
        post_id = str(10_000 + i) if platform is Platform.TIKTOK else f"Cx{i:09d}"
        if post_id not in taken and wanted(synthetic_video(platform, post_id, anchor)):
            return post_id
    raise AssertionError("no sandbox video matches")


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
