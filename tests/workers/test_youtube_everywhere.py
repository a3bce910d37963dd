"""A Shorts URL through the product: added by URL, fetched by the worker, read back through
the API, the CSV export and analytics, with hidden likes unknown everywhere (not 0); and one
added through the API, refreshed by the real engine (its lane's daily quota included),
decided at 7 days and paid through the payouts API like a TikTok video."""

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.platforms.sandbox import Magic, Sandbox, published_id, videos_by, youtube_id
from app.settings import Settings
from app.workers.lanes import youtube_lanes
from app.workers.refresher import Refresher
from tests import factories as f
from tests.conftest import committed_admin
from tests.engine_kit import Clock

SM = async_sessionmaker[AsyncSession]
Refresh = Callable[[], Awaitable[None]]


@pytest.fixture
async def admin(
    settings: Settings, engine: AsyncEngine, committed: SM
) -> AsyncIterator[httpx.AsyncClient]:
    async with committed_admin(settings, engine, committed, "Shorts") as client:
        yield client


async def test_a_short_is_tracked_exported_and_counted_with_hidden_likes_unknown(
    admin: httpx.AsyncClient, refresh: Refresh, sandbox: Sandbox
) -> None:
    hidden = youtube_id(Magic.LIKES_HIDDEN, 3)
    author = sandbox.video(Platform.YOUTUBE, hidden)
    shown = videos_by(Platform.YOUTUBE, author.handle, 1, seed="everywhere")[0]
    campaign = await f.campaign(admin)
    tier = await f.tier(admin, campaign["id"])
    creator = await f.youtube_creator(admin, author.handle, author.user_id)
    await f.member(admin, campaign["id"], creator["id"], tier["id"])
    posts = {
        video: await f.post(admin, campaign["id"], url=url, creator_id=creator["id"])
        for video, url in (
            (hidden, f"https://www.youtube.com/shorts/{hidden}"),
            (shown, f"https://youtu.be/{shown}?si=x"),
        )
    }

    await refresh()

    read = {
        video: await f.ok(await admin.get(f"/v1/posts/{p['id']}")) for video, p in posts.items()
    }
    assert read[hidden]["likes"] is None
    assert isinstance(read[shown]["likes"], int)
    for post in read.values():
        assert post["platform"] == "youtube"
        assert post["views"] > 0
        assert post["published_at"] is not None
        assert post["holds"] == []

    exported = (await admin.get("/v1/posts.csv")).text
    rows = {r["platform_post_id"]: r for r in csv.DictReader(io.StringIO(exported))}
    assert rows[hidden]["platform"] == "youtube"
    assert rows[hidden]["likes"] == ""
    assert rows[shown]["likes"] == str(read[shown]["likes"])

    report = await f.ok(await admin.get("/v1/analytics", params={"period": "30d"}))
    youtube = [p for p in report["by_platform"] if p["platform"] == "youtube"]
    assert youtube == [
        {"platform": "youtube", "posts": 2, "views": sum(p["views"] for p in read.values())}
    ]


async def test_a_short_added_by_url_is_decided_at_seven_days_and_paid(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    settings = fast.model_copy(update={"youtube_batch_pause_seconds": 0})
    lanes = youtube_lanes(settings, http, redis, None, now=clock)
    [lane] = lanes
    assert lane.quota is not None
    engine = Refresher(
        committed, {}, settings, clock=clock, provider_lanes={Platform.YOUTUBE: lanes}
    )
    video = published_id(Platform.YOUTUBE, 24 * 5)  # five days old at the anchor
    author = sandbox.video(Platform.YOUTUBE, video)
    campaign = await f.campaign(admin)
    tier = await f.tier(admin, campaign["id"], cpm="4.50")
    creator = await f.youtube_creator(admin, "shorts-maker", author.user_id)
    await f.member(admin, campaign["id"], creator["id"], tier["id"])
    url = f"https://m.youtube.com/shorts/{video}?si=ab"  # a Shorts URL names no creator
    made = await f.post(admin, campaign["id"], url=url, creator_id=creator["id"])
    assert (made["platform"], made["platform_post_id"], made["url"]) == (
        "youtube",
        video,
        f"https://www.youtube.com/shorts/{video}",
    )

    # Tracked: the first refresh reads its stats and its publish time (one unit). (The API
    # runs on the wall clock, a moment past the engine's test clock.)
    clock.advance(minutes=1)
    assert await engine.refresh_due(Platform.YOUTUBE) == {"refreshed": 1}
    tracked = await f.ok(await admin.get(f"/v1/posts/{made['id']}"))
    assert tracked["status"] == "tracking"
    assert tracked["views"] > 0
    published = datetime.fromisoformat(tracked["published_at"])
    assert published == author.created_at

    # Seven days after it was published the deadline refresh decides it on its views.
    clock.now = published + timedelta(days=7, hours=1)
    assert await engine.refresh_due(Platform.YOUTUBE) == {"refreshed": 1}
    assert (await lane.quota.state()).used == 1  # a later Pacific day's first unit
    decided = await f.ok(await admin.get(f"/v1/posts/{made['id']}"))
    views = sandbox.video(Platform.YOUTUBE, video).counts_at(sandbox.now()).views
    assert views >= 1000
    earnings = (Decimal(views) * Decimal("4.50") / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (decided["status"], decided["locked_views"], decided["earnings"]) == (
        "finalized",
        views,
        str(earnings),
    )
    assert decided["cpm_tier_id"] == tier["id"]

    # Paid like any platform's post: a batch of what is ready, then marked paid.
    ready = await f.ok(await admin.get("/v1/payouts/ready"))
    assert [(r["creator_handle"], r["posts"], r["amount"]) for r in ready["data"]] == [
        ("shorts-maker", 1, str(earnings))
    ]
    batch = await f.ok(await admin.post("/v1/payouts", json={"campaign_id": campaign["id"]}), 201)
    assert batch["currencies"] == [{"currency": "USD", "posts": 1, "amount": str(earnings)}]
    paid = await f.ok(
        await admin.post(f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "YT-1"})
    )
    assert paid["status"] == "paid"
    post = await f.ok(await admin.get(f"/v1/posts/{made['id']}"))
    assert (post["status"], post["payout_reference"], post["earnings"]) == (
        "paid",
        "YT-1",
        str(earnings),
    )
