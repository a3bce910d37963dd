"""Watched accounts end to end (issue 29): the API makes a watch, the watch job lists the
account in the sandbox (whose accounts post on its clock) and adds what is new, filtered,
never another user's and never twice; a private account backs off; listings keep the
lanes' pacing."""

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from app.domain.enums import Platform
from app.models import WebhookEvent
from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.listings import build_listers
from app.platforms.registry import build_clients
from app.platforms.sandbox import RENAME_AFTER, Sandbox, accounts
from app.platforms.sandbox.videos import user_id
from app.settings import Settings
from app.workers import lanes, quota
from app.workers.pacing import BatchGate, Spacer
from app.workers.refresher import Refresher
from app.workers.watcher import Watcher
from tests import factories as f
from tests.engine_kit import SM, Clock, seed


@pytest.fixture
def make_watcher(
    committed: SM, fast: Settings, http: httpx.AsyncClient, redis: Redis, clock: Clock
) -> Callable[..., Watcher]:
    def make(tiktok_pause: float = 0, instagram_spacing: float = 0) -> Watcher:
        spacer = Spacer(redis, "test:pace:instagram", instagram_spacing)
        clients = build_clients(fast, http, {Platform.INSTAGRAM: spacer})
        gates = {Platform.TIKTOK: BatchGate(redis, "test:pace:tiktok", tiktok_pause)}
        listers = build_listers(fast, http, {Platform.INSTAGRAM: spacer})
        return Watcher(committed, lanes.single(clients, gates), fast, clock=clock, listers=listers)

    return make


async def _watched(
    admin: httpx.AsyncClient, clock: Clock, platform: str, handle: str, **watch: Any
) -> tuple[str, dict[str, Any]]:
    """A campaign watching a new member creator's account; the test clock then moves just
    past the watch's start (the API stamps it with the real time)."""
    campaign = await f.campaign(admin)
    tier = await f.tier(admin, campaign["id"])
    creator = await f.creator(admin, handle, platform)
    await f.member(admin, campaign["id"], creator["id"], tier["id"])
    body = {"creator_id": creator["id"], **watch}
    made = await admin.post(f"/v1/campaigns/{campaign['id']}/watched-accounts", json=body)
    watch = await f.ok(made, 201)
    clock.now = max(clock.now, datetime.fromisoformat(watch["started_at"])) + timedelta(seconds=1)
    return campaign["id"], watch


async def _posts(admin: httpx.AsyncClient, campaign_id: str) -> list[dict[str, Any]]:
    page = await f.ok(await admin.get(f"/v1/campaigns/{campaign_id}/posts", params={"limit": 200}))
    return list(page["data"])


async def _watch(admin: httpx.AsyncClient, campaign_id: str, watch_id: str) -> dict[str, Any]:
    return dict(
        await f.ok(await admin.get(f"/v1/campaigns/{campaign_id}/watched-accounts/{watch_id}"))
    )


def _expected(
    platform: Platform, handle: str, sandbox: Sandbox, now: datetime, keep: Callable[..., bool]
) -> list[str]:
    return [
        p.video.post_id for p in accounts.posts(platform, handle, sandbox.anchor, now) if keep(p)
    ]


async def test_a_watched_tiktok_account_brings_its_new_videos_once(
    admin: httpx.AsyncClient,
    make_watcher: Callable[..., Watcher],
    clock: Clock,
    sandbox: Sandbox,
    committed: SM,
) -> None:
    hook = {"url": "http://127.0.0.1:9/hooks", "event_types": ["post.created"]}
    await f.ok(await admin.post("/v1/webhook-endpoints", json=hook), 201)
    cid, watch = await _watched(admin, clock, "tiktok", "scout2015", initial_import=5)
    watcher = make_watcher()
    assert await watcher.check_due(Platform.TIKTOK) == {"ok": 1}
    async with committed() as session:
        sent = (
            await session.scalars(
                select(WebhookEvent.payload).where(WebhookEvent.type == "post.created")
            )
        ).all()
    assert len(sent) == 5
    assert {(e["data"]["source"], e["data"]["watched_account_id"]) for e in sent} == {
        ("watched_account", watch["id"])
    }

    # The initial import takes exactly the five most recent videos, with their first stats.
    newest = _expected(Platform.TIKTOK, "scout2015", sandbox, clock.now, lambda p: True)
    posts = await _posts(admin, cid)
    assert sorted(p["platform_post_id"] for p in posts) == sorted(newest[:5])
    for post in posts:
        assert post["source"] == "watched_account"
        assert post["watched_account_id"] == watch["id"]
        assert post["last_refreshed_at"] is not None  # from the listing
        assert post["last_fetch_outcome"] == "refreshed"
    events = await f.ok(await admin.get(f"/v1/posts/{posts[0]['id']}/events"))
    created = events["data"][0]
    assert (created["code"], created["reason"]) == ("created", "watched_account")
    assert created["evidence"]["watched_account_id"] == watch["id"]
    state = await _watch(admin, cid, watch["id"])
    assert state["last_outcome"] == "ok"
    assert (state["videos_seen"], state["videos_added"]) == (5, 5)
    assert state["last_checked_at"] is not None

    # Not due again before the interval: nothing is listed.
    sandbox.requests.clear()
    assert await watcher.check_due(Platform.TIKTOK) == {}
    assert not sandbox.requests

    # One interval later the account has posted again: the new video comes in, none twice.
    clock.advance(hours=8)
    assert await watcher.check_due(Platform.TIKTOK) == {"ok": 1}
    after = await _posts(admin, cid)
    assert len(after) == 6
    fresh = {p["platform_post_id"] for p in after} - {p["platform_post_id"] for p in posts}
    assert fresh == {_expected(Platform.TIKTOK, "scout2015", sandbox, clock.now, lambda p: True)[0]}
    state = await _watch(admin, cid, watch["id"])
    assert state["videos_added"] == 6


async def test_a_watched_instagram_account_adds_filtered_reels_only(
    admin: httpx.AsyncClient,
    make_watcher: Callable[..., Watcher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    cid, watch = await _watched(
        admin,
        clock,
        "instagram",
        "mixed_7",
        initial_import=10,
        include_hashtags=["#AD"],
        exclude_hashtags=["giveaway"],
    )
    assert await make_watcher().check_due(Platform.INSTAGRAM) == {"ok": 1}
    wanted = _expected(
        Platform.INSTAGRAM,
        "mixed_7",
        sandbox,
        clock.now,
        lambda p: p.kind == "video" and p.index % 2 == 0 and p.index % 5 != 0,
    )[:10]
    posts = await _posts(admin, cid)
    assert sorted(p["platform_post_id"] for p in posts) == sorted(wanted)
    state = await _watch(admin, cid, watch["id"])
    assert state["videos_added"] == 10
    assert state["skipped"]["not_a_video"] > 0
    assert state["skipped"]["filtered"] > 0
    assert state["skipped"]["already_tracked"] == 0


async def test_a_video_already_tracked_is_counted_not_added_twice(
    admin: httpx.AsyncClient, make_watcher: Callable[..., Watcher], sandbox: Sandbox, clock: Clock
) -> None:
    cid, watch = await _watched(admin, clock, "tiktok", "scout2015", initial_import=5)
    newest = _expected(Platform.TIKTOK, "scout2015", sandbox, clock.now, lambda p: True)
    other = await f.campaign(admin, name="Other")
    creator = (await f.ok(await admin.get("/v1/creators")))["data"][0]
    await f.member(admin, other["id"], creator["id"])
    await f.post(
        admin,
        other["id"],
        platform="tiktok",
        platform_post_id=newest[0],
        creator_id=creator["id"],
    )
    await make_watcher().check_due(Platform.TIKTOK)
    state = await _watch(admin, cid, watch["id"])
    assert (state["videos_added"], state["skipped"]["already_tracked"]) == (4, 1)
    assert newest[0] not in {p["platform_post_id"] for p in await _posts(admin, cid)}


async def test_a_private_account_backs_off_and_says_so(
    admin: httpx.AsyncClient, make_watcher: Callable[..., Watcher], clock: Clock
) -> None:
    cid, watch = await _watched(admin, clock, "tiktok", "private_1", initial_import=5)
    watcher = make_watcher()
    assert await watcher.check_due(Platform.TIKTOK) == {"private": 1}
    state = await _watch(admin, cid, watch["id"])
    assert state["last_outcome"] == "private"
    assert state["consecutive_failures"] == 1
    assert "private" in state["last_error"]
    waited = datetime.fromisoformat(state["next_check_at"]) - clock.now
    assert waited.total_seconds() == pytest.approx(12 * 3600, abs=5)  # twice the interval
    clock.advance(hours=6)
    assert await watcher.check_due(Platform.TIKTOK) == {}  # not every interval
    clock.advance(hours=6)
    assert await watcher.check_due(Platform.TIKTOK) == {"private": 1}
    state = await _watch(admin, cid, watch["id"])
    waited = datetime.fromisoformat(state["next_check_at"]) - clock.now
    assert waited.total_seconds() == pytest.approx(24 * 3600, abs=5)
    assert await _posts(admin, cid) == []


async def test_another_user_s_listing_adds_nothing(
    admin: httpx.AsyncClient, make_watcher: Callable[..., Watcher], clock: Clock
) -> None:
    cid, watch = await _watched(admin, clock, "tiktok", "other_1", initial_import=5)
    assert await make_watcher().check_due(Platform.TIKTOK) == {"other_author": 1}
    state = await _watch(admin, cid, watch["id"])
    assert state["last_outcome"] == "other_author"
    assert state["skipped"]["other_author"] > 0
    assert state["videos_added"] == 0
    assert await _posts(admin, cid) == []
    # Known by user id, the same: the listing's author is not the creator.
    cid2, _ = await _watched(admin, clock, "instagram", "other_2", initial_import=5)
    creator = (await f.ok(await admin.get("/v1/creators", params={"platform": "instagram"})))[
        "data"
    ][0]
    uid = user_id(Platform.INSTAGRAM, "other_2")
    await f.ok(await admin.patch(f"/v1/creators/{creator['id']}", json={"platform_user_id": uid}))
    assert await make_watcher().check_due(Platform.INSTAGRAM) == {"other_author": 1}
    assert await _posts(admin, cid2) == []


async def test_paused_watches_are_not_listed(
    admin: httpx.AsyncClient, make_watcher: Callable[..., Watcher], sandbox: Sandbox, clock: Clock
) -> None:
    await _watched(admin, clock, "tiktok", "scout2015", initial_import=5, enabled=False)
    sandbox.requests.clear()
    assert await make_watcher().check_due(Platform.TIKTOK) == {}
    assert not sandbox.requests


async def test_listings_keep_each_lane_s_pacing(
    admin: httpx.AsyncClient, make_watcher: Callable[..., Watcher], sandbox: Sandbox, clock: Clock
) -> None:
    """Several pages of a long history: TikTok's pages are batches of the lane's gate (its
    pause between them), Instagram's requests are spaced by the lane's spacer."""
    await _watched(
        admin, clock, "tiktok", "longhistory_1", initial_import=30, include_hashtags=["ad"]
    )
    await _watched(admin, clock, "instagram", "longhistory_2", initial_import=30)
    sandbox.requests.clear()
    watcher = make_watcher(tiktok_pause=0.2, instagram_spacing=0.3)
    await watcher.check_due(Platform.TIKTOK)
    await watcher.check_due(Platform.INSTAGRAM)
    for provider, gap in (("tiktok_primary", 0.2), ("instagram", 0.3)):
        times = [r.monotonic for r in sandbox.requests if r.provider == provider]
        assert len(times) >= 2, provider
        assert min(b - a for a, b in itertools.pairwise(times)) >= gap * 0.95


async def test_listings_yield_to_posts_near_their_deadline(
    admin: httpx.AsyncClient,
    make_watcher: Callable[..., Watcher],
    sandbox: Sandbox,
    clock: Clock,
    committed: SM,
) -> None:
    """A TikTok post due at its deadline waits for a fetch: TikTok listings wait for it (the
    other platform's do not)."""
    await _watched(admin, clock, "tiktok", "scout2015", initial_import=5)
    await _watched(admin, clock, "instagram", "natgeo", initial_import=5)
    await seed(
        committed, [(Platform.TIKTOK, "7000000000000000001")], clock.now, finalize_after_days=0
    )
    sandbox.requests.clear()
    watcher = make_watcher()
    assert await watcher.check_due(Platform.TIKTOK) == {}
    assert await watcher.check_due(Platform.INSTAGRAM) == {"ok": 1}
    assert {r.provider for r in sandbox.requests} == {"instagram"}


async def test_a_renamed_account_is_followed_by_its_user_id(
    admin: httpx.AsyncClient,
    make_watcher: Callable[..., Watcher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    """The first videos bind the creator's platform user id; after the account renames
    itself, its videos (same id, new handle) still come in, and the creator is renamed."""
    cid, _ = await _watched(admin, clock, "tiktok", "renamer_4", initial_import=5)
    watcher = make_watcher()
    assert await watcher.check_due(Platform.TIKTOK) == {"ok": 1}
    creator = (await f.ok(await admin.get("/v1/creators")))["data"][0]
    assert creator["platform_user_id"] == user_id(Platform.TIKTOK, "renamer_4")
    clock.now = max(clock.now, sandbox.anchor + RENAME_AFTER) + timedelta(hours=9)
    assert await watcher.check_due(Platform.TIKTOK) == {"ok": 1}
    creator = (await f.ok(await admin.get("/v1/creators")))["data"][0]
    assert creator["handle"] == "renamed_4"
    assert len(await _posts(admin, cid)) > 5


# YouTube: a channel's uploads playlist, a quota unit a page, through the lane's daily quota.


def _youtube(fast: Settings, **more: object) -> Settings:
    return fast.model_copy(update={"youtube_batch_pause_seconds": 0, **more})


async def _watched_channel(
    admin: httpx.AsyncClient, clock: Clock, name: str, **watch: Any
) -> tuple[str, str, dict[str, Any]]:
    """(campaign id, channel id, watch) for a sandbox channel named `name`."""
    channel = accounts.channel_id(name)
    campaign = await f.campaign(admin)
    tier = await f.tier(admin, campaign["id"])
    creator = await f.youtube_creator(admin, f"{name.replace('_', '-')}", channel)
    await f.member(admin, campaign["id"], creator["id"], tier["id"])
    body = {"creator_id": creator["id"], **watch}
    made = await admin.post(f"/v1/campaigns/{campaign['id']}/watched-accounts", json=body)
    made_watch = await f.ok(made, 201)
    clock.now = max(clock.now, datetime.fromisoformat(made_watch["started_at"])) + timedelta(
        seconds=1
    )
    return campaign["id"], channel, made_watch


def _pages(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path == "/youtube/v3/playlistItems")


async def test_a_watched_youtube_channel_brings_its_new_shorts_within_one_interval(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    settings = _youtube(fast)
    youtube = lanes.youtube_lanes(settings, http, redis, None, now=clock)
    [lane] = youtube
    assert lane.quota is not None
    watcher = Watcher(committed, {Platform.YOUTUBE: youtube}, settings, clock=clock)
    refresher = Refresher(
        committed, {}, settings, clock=clock, provider_lanes={Platform.YOUTUBE: youtube}
    )
    cid, channel, watch = await _watched_channel(admin, clock, "shorts_1", initial_import=5)
    sandbox.requests.clear()

    # The first check: one page of the uploads playlist, one unit; the five newest uploads.
    assert await watcher.check_due(Platform.YOUTUBE) == {"ok": 1}
    assert (_pages(sandbox), (await lane.quota.state()).used) == (1, 1)
    [request] = [r for r in sandbox.requests if r.path == "/youtube/v3/playlistItems"]
    assert request.video_id == "UU" + channel[2:]
    newest = _expected(Platform.YOUTUBE, channel, sandbox, clock.now, lambda p: True)
    posts = await _posts(admin, cid)
    assert sorted(p["platform_post_id"] for p in posts) == sorted(newest[:5])
    assert {p["source"] for p in posts} == {"watched_account"}
    # The listing has no statistics: the posts wait, due, for the next refresh (one
    # videos.list call for all five), which finds them the channel's.
    assert {p["last_refreshed_at"] for p in posts} == {None}
    assert (await refresher.refresh_due(Platform.YOUTUBE))["refreshed"] == 5
    assert (await lane.quota.state()).used == 2
    posts = await _posts(admin, cid)
    assert {(p["status"], p["last_fetch_outcome"]) for p in posts} == {("tracking", "refreshed")}

    # One interval later the channel has uploaded again: that Short comes in, for one unit
    # (counted on the Pacific day it was spent on: eight hours may reach the next one).
    before = clock.now
    clock.advance(hours=8)
    assert await watcher.check_due(Platform.YOUTUBE) == {"ok": 1}
    days = {lane.quota.key(before), lane.quota.key(clock.now)}
    assert sum([int(await redis.get(day) or 0) for day in days]) == 3
    after = {p["platform_post_id"] for p in await _posts(admin, cid)}
    fresh = after - {p["platform_post_id"] for p in posts}
    assert fresh == {_expected(Platform.YOUTUBE, channel, sandbox, clock.now, lambda p: True)[0]}
    state = await _watch(admin, cid, watch["id"])
    assert (state["last_outcome"], state["videos_added"]) == ("ok", 6)


async def test_a_youtube_listing_spends_a_unit_a_page_and_waits_for_the_reset(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    """A long history read through several pages costs one unit each; with the day's units
    gone mid-listing nothing is added, the lane waits for midnight Pacific time, and then
    the listing is read again."""
    settings = _youtube(fast)
    youtube = lanes.youtube_lanes(settings, http, redis, None, now=clock)
    [lane] = youtube
    assert lane.quota is not None
    watcher = Watcher(committed, {Platform.YOUTUBE: youtube}, settings, clock=clock)
    # Thirty #ad uploads among a hundred: the import reads two pages of fifty.
    cid, _, watch = await _watched_channel(
        admin, clock, "longhistory_1", initial_import=30, include_hashtags=["ad"]
    )
    sandbox.requests.clear()
    assert await watcher.check_due(Platform.YOUTUBE) == {"ok": 1}
    assert _pages(sandbox) == 2
    assert (await lane.quota.state()).used == 2
    assert len(await _posts(admin, cid)) == 30
    paused = {"enabled": False}
    await f.ok(
        await admin.patch(f"/v1/campaigns/{cid}/watched-accounts/{watch['id']}", json=paused)
    )

    # The same key's lane with a day of three units (none kept back) has one left: the
    # first page spends it, the second is not sent; the watch says quota_exhausted and adds
    # nothing.
    day = _youtube(fast, youtube_daily_quota_units=3, youtube_quota_reserve_units=0)
    short = lanes.youtube_lanes(day, http, redis, None, now=clock)
    watcher = Watcher(committed, {Platform.YOUTUBE: short}, day, clock=clock)
    cid2, _, watch2 = await _watched_channel(
        admin, clock, "longhistory_2", initial_import=30, include_hashtags=["ad"]
    )
    sandbox.requests.clear()
    assert await watcher.check_due(Platform.YOUTUBE) == {"quota_exhausted": 1}
    assert _pages(sandbox) == 1
    state = await _watch(admin, cid2, watch2["id"])
    assert (state["last_outcome"], state["videos_added"]) == ("quota_exhausted", 0)
    assert await _posts(admin, cid2) == []
    assert await short[0].parked()  # spent: idle until the reset

    # Due again after the reset (a new Pacific day's units): the listing is read again.
    clock.now = max(quota.next_reset(clock.now), clock.now + timedelta(hours=6))
    clock.advance(minutes=1)
    assert not await short[0].parked()
    sandbox.requests.clear()
    assert await watcher.check_due(Platform.YOUTUBE) == {"ok": 1}
    assert _pages(sandbox) == (await short[0].quota.state()).used == 2  # type: ignore[union-attr]
    # The thirty imported, and any #ad upload since the watch began.
    assert len(await _posts(admin, cid2)) >= 30


async def test_youtube_listings_leave_the_quota_reserve_to_posts_still_tracking(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    """YOUTUBE_QUOTA_RESERVE_UNITS are kept for posts whose money is not decided: a listing
    takes units only above them (the take itself refuses the reserve), and with the lane at
    its reserve no watch is checked; the watch waits, due, and the reserve still refreshes a
    tracking post."""
    settings = _youtube(fast, youtube_daily_quota_units=10, youtube_quota_reserve_units=9)
    youtube = lanes.youtube_lanes(settings, http, redis, None, now=clock)
    [lane] = youtube
    assert lane.quota is not None
    assert lane.lister is not None
    watcher = Watcher(committed, {Platform.YOUTUBE: youtube}, settings, clock=clock)
    # Thirty #ad uploads among a hundred: two pages. One unit is above the reserve: the
    # first page takes it, the second is not sent and the check adds nothing.
    cid, _, _ = await _watched_channel(
        admin, clock, "longhistory_3", initial_import=30, include_hashtags=["ad"]
    )
    sandbox.requests.clear()
    assert await watcher.check_due(Platform.YOUTUBE) == {"quota_exhausted": 1}
    assert (_pages(sandbox), (await lane.quota.state()).used) == (1, 1)
    assert await _posts(admin, cid) == []

    # At its reserve the lane checks no watch: the next one waits, due, with nothing sent.
    cid2, channel2, watch2 = await _watched_channel(admin, clock, "reserve_1", initial_import=5)
    assert await watcher.check_due(Platform.YOUTUBE) == {}
    assert _pages(sandbox) == 1
    state = await _watch(admin, cid2, watch2["id"])
    assert (state["last_outcome"], state["videos_added"]) == (None, 0)
    # Asked directly, the lister's budget refuses the reserve too.
    page = await lane.lister.list_page(channel2, None)
    assert isinstance(page, FetchError)
    assert page.kind is FetchErrorKind.QUOTA_EXHAUSTED
    assert (_pages(sandbox), (await lane.quota.state()).used) == (1, 1)

    # The reserve is there for posts still tracking: a refresh spends it.
    await seed(committed, [(Platform.YOUTUBE, "RESERVE001A")], clock.now)
    refresher = Refresher(
        committed, {}, settings, clock=clock, provider_lanes={Platform.YOUTUBE: youtube}
    )
    assert await refresher.refresh_due(Platform.YOUTUBE) == {"refreshed": 1}
    assert (await lane.quota.state()).used == 2
