"""A Shorts URL through the product: added by URL, fetched by the worker, read back through
the API, the CSV export and analytics, with hidden likes unknown everywhere (not 0)."""

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.platforms.sandbox import Magic, Sandbox, videos_by, youtube_id
from app.settings import Settings
from tests import factories as f
from tests.conftest import committed_admin

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
