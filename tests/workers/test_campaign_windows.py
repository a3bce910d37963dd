"""The campaign window at its exact boundaries through the refresher (issue 22, item 16): a
video published on its campaign's first or last day (UTC) is in the window, one a day outside
is held. The pure rules' edges are in tests/domain/test_holds.py and test_schedule.py."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Campaign, Post
from app.platforms.sandbox import Sandbox
from app.platforms.sandbox.magic import published_id
from app.settings import Settings
from app.workers.refresher import Refresher
from tests import factories as f
from tests.conftest import committed_admin
from tests.engine_kit import Clock

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
async def admin(
    settings: Settings, engine: AsyncEngine, committed: SM
) -> AsyncIterator[httpx.AsyncClient]:
    async with committed_admin(settings, engine, committed, "Boundaries") as client:
        yield client


@pytest.fixture
def refresh(
    make_refresher: Callable[[], Refresher], committed: SM, clock: Clock
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async with committed() as session:
            await session.execute(update(Post).values(next_refresh_at=clock.now))
            await session.commit()
        await make_refresher().refresh_due(Platform.TIKTOK)

    return run


async def test_videos_published_on_the_first_or_last_day_are_not_held(
    admin: httpx.AsyncClient,
    refresh: Callable[[], Awaitable[None]],
    sandbox: Sandbox,
    committed: SM,
) -> None:
    """Through the refresher: a video published at 00:00 UTC on starts_on and one at 23:00
    UTC on ends_on are in; the same videos one day off either edge are held."""
    anchor_day = sandbox.anchor.date()
    day = anchor_day - timedelta(days=2)
    first_instant = 48  # hours before the anchor: 00:00 UTC on `day`
    late_evening = 25  # 23:00 UTC on `day`
    cases = {
        "on_starts_on": (first_instant, day, None, []),
        "on_ends_on": (late_evening, None, day, []),
        "day_before_start": (late_evening, day + timedelta(days=1), None, ["outside"]),
        "day_after_end": (first_instant, None, day - timedelta(days=1), ["outside"]),
    }
    posts = {}
    ended: dict[str, date | None] = {}
    for n, (name, (hours, starts, ends, _)) in enumerate(cases.items(), start=1):
        c = await f.campaign(admin, starts_on=starts and starts.isoformat())
        t = await f.tier(admin, c["id"])
        video = published_id(Platform.TIKTOK, hours, 500 + n)
        author = sandbox.video(Platform.TIKTOK, video).handle
        known = await f.ok(await admin.get(f"/v1/creators?platform=tiktok&handle={author}"))
        if known["data"]:
            creator = known["data"][0]
        else:
            creator = await f.creator(admin, author)
        await f.member(admin, c["id"], creator["id"], t["id"])
        posts[name] = await f.post(
            admin, c["id"], url=f"https://www.tiktok.com/@{author}/video/{video}"
        )
        # Its end date set after the post was added: intake refuses an ended campaign.
        ended[c["id"]] = ends
    async with committed() as session:
        for campaign_id, ends_on in ended.items():
            await session.execute(
                update(Campaign)
                .where(Campaign.id == uuid.UUID(campaign_id))
                .values(ends_on=ends_on)
            )
        await session.commit()
    await refresh()
    for name, post in posts.items():
        got = await f.ok(await admin.get(f"/v1/posts/{post['id']}"))
        assert got["last_fetch_outcome"] == "refreshed", name
        codes = [h["code"] for h in got["holds"]]
        expected = ["outside_campaign_window"] if cases[name][3] else []
        assert codes == expected, name
