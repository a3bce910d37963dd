"""Money rules at their exact boundaries (issue 22, item 16): a video published on its
campaign's first or last day (UTC) is in the window, one an instant outside is held; a post
is refreshed for exactly 30 days from publishing under the default settings."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain import schedule
from app.domain.enums import Platform, PostStatus
from app.domain.holds import outside_campaign_window
from app.domain.policy import Policy
from app.models import Campaign, Post
from app.platforms.sandbox import Sandbox
from app.platforms.sandbox.magic import published_id
from app.settings import Settings
from app.workers.refresher import Refresher
from tests import factories as f
from tests.conftest import committed_admin
from tests.engine_kit import Clock

SM = async_sessionmaker[AsyncSession]
DAY = date(2026, 11, 1)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("published", "starts_on", "ends_on", "held"),
    [
        (MIDNIGHT, DAY, None, False),  # the first instant of starts_on
        (MIDNIGHT - TICK, DAY, None, True),  # the last instant before it
        (MIDNIGHT + timedelta(days=1) - TICK, None, DAY, False),  # the last instant of ends_on
        (MIDNIGHT + timedelta(days=1), None, DAY, True),  # the first after it
        (MIDNIGHT, DAY, DAY, False),  # a one-day campaign
        (MIDNIGHT + timedelta(hours=23), DAY, DAY, False),
        # Days are UTC days: 01:00 at +02:00 is 23:00 UTC the day before, 23:00 at -02:00 is
        # 01:00 UTC the day after.
        (datetime(2026, 11, 1, 1, tzinfo=timezone(timedelta(hours=2))), DAY, None, True),
        (datetime(2026, 11, 1, 23, tzinfo=timezone(timedelta(hours=-2))), None, DAY, True),
        (datetime(2026, 11, 2, 1, tzinfo=timezone(timedelta(hours=2))), None, DAY, False),
        (datetime(2026, 10, 31, 23, tzinfo=timezone(timedelta(hours=-2))), DAY, None, False),
    ],
)
def test_the_campaign_window_includes_its_first_and_last_utc_day(
    published: datetime, starts_on: date | None, ends_on: date | None, held: bool
) -> None:
    assert outside_campaign_window(published, starts_on, ends_on) is held


@pytest.mark.parametrize("status", [PostStatus.TRACKING, PostStatus.FINALIZED, PostStatus.PAID])
def test_a_post_is_refreshed_for_exactly_30_days_by_default(status: PostStatus) -> None:
    """With the default settings: a fetch due at 30 days after publishing, to the
    microsecond, is not made; one due an instant before it is."""
    policy = Policy.from_settings(Settings())
    assert policy.cadence.window == timedelta(days=30)
    interval = policy.cadence.active if status is PostStatus.TRACKING else policy.cadence.settled
    now = MIDNIGHT
    at_30_days = now + interval - timedelta(days=30)  # the next fetch would be at 30 days
    assert schedule.next_refresh(status, at_30_days, now, policy.cadence) is None
    due = schedule.next_refresh(status, at_30_days + TICK, now, policy.cadence)
    assert due == now + interval
    assert not schedule.in_window(now - timedelta(days=30), now, policy.cadence.window)
    assert schedule.in_window(now - timedelta(days=30) + TICK, now, policy.cadence.window)


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
