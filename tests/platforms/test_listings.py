"""Account listings (watched accounts, issue 29): the parsers against stored answers of the
real shapes, the listers against the sandbox, and the sandbox's growing accounts."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from app.domain.enums import Platform, StatsSource
from app.domain.watching import Listed
from app.platforms.contract import FetchError, FetchErrorKind, VideoRef, VideoStats
from app.platforms.http import Reply
from app.platforms.instagram import InstagramProvider
from app.platforms.listings import (
    InstagramLister,
    ListingPage,
    TikTokLister,
    YouTubeLister,
    parse_instagram,
    parse_tikwm,
    parse_youtube,
    uploads_playlist,
)
from app.platforms.retry import Retrier, RetryPolicy
from app.platforms.sandbox import Sandbox, accounts
from app.platforms.sandbox.videos import user_id
from app.platforms.tiktok_primary import TikTokPrimary
from app.platforms.youtube import YouTubeClient
from tests.platforms.conftest import SANDBOX_URL, sample
from tests.platforms.test_sandbox import null_tolerant, skeleton


def reply(name: str, status: int = 200) -> Reply:
    return Reply(status, sample(name))


def test_tikwm_user_posts_page() -> None:
    page = parse_tikwm(reply("tikwm_user_posts.json"))
    assert isinstance(page, ListingPage)
    assert (page.cursor, page.has_more, page.source) == ("1722960000000", True, StatsSource.PRIMARY)
    assert page.account_id == "6784563219012345678"
    assert page.items[0] == Listed(
        post_id="7399120045512330528",
        published_at=datetime(2024, 8, 7, 13, 20, tzinfo=UTC),
        is_video=True,
        author_id="6784563219012345678",
        author_handle="dancewithmia",
        caption="new routine drop #ad #dance",
        views=52310,
        likes=6120,
        comments=88,
        shares=301,
    )
    # A photo-mode post counts like a video (as for stats).
    assert page.items[1].is_video
    assert page.items[1].views == 9021


def test_tikwm_listing_errors() -> None:
    private = parse_tikwm(reply("tikwm_user_posts_private.json"))
    assert isinstance(private, FetchError)
    assert private.kind is FetchErrorKind.PRIVATE
    limit = parse_tikwm(reply("tikwm_free_api_limit.json"))
    assert isinstance(limit, FetchError)
    assert limit.kind is FetchErrorKind.RATE_LIMITED
    missing = parse_tikwm(Reply(200, b'{"code":-1,"msg":"User doesn\'t exist"}'))
    assert isinstance(missing, FetchError)
    assert missing.kind is FetchErrorKind.NOT_FOUND
    for body in (b"<html>", b'{"code":0,"data":{"videos":{}}}', b'{"code":0}'):
        garbage = parse_tikwm(Reply(200, body))
        assert isinstance(garbage, FetchError)
        assert garbage.kind is FetchErrorKind.UPSTREAM
    assert isinstance(parse_tikwm(reply("rapidapi_429.json", 429)), FetchError)


def test_instagram_reels_page_keeps_only_reels_as_videos() -> None:
    page = parse_instagram(reply("instagram_reels.json"))
    assert isinstance(page, ListingPage)
    assert (page.account_id, page.account_handle) == ("25025320", "natgeo")
    assert (page.cursor, page.has_more) == ("QVFCc", True)
    reel, carousel, image = page.items
    assert reel.post_id == "C-1aBcDeFgH"
    assert reel.is_video
    assert (reel.views, reel.likes, reel.comments, reel.shares) == (812004, 40211, 512, None)
    assert reel.caption == "Into the canyon. #NatGeo #Ad"
    assert reel.author_id == "25025320"
    assert not carousel.is_video
    assert not image.is_video
    assert image.caption is None


def test_instagram_listing_errors() -> None:
    private = parse_instagram(reply("instagram_reels_private.json"))
    assert isinstance(private, FetchError)
    assert private.kind is FetchErrorKind.PRIVATE
    missing = parse_instagram(Reply(200, b'{"data":{"user":null},"status":"ok"}'))
    assert isinstance(missing, FetchError)
    assert missing.kind is FetchErrorKind.NOT_FOUND
    login = parse_instagram(reply("instagram_require_login.json", 401))
    assert isinstance(login, FetchError)
    assert login.kind is FetchErrorKind.RATE_LIMITED
    html = parse_instagram(Reply(200, b"<!DOCTYPE html>"))
    assert isinstance(html, FetchError)
    assert html.kind is FetchErrorKind.UPSTREAM


def test_the_sandbox_listings_have_the_samples_shapes(sandbox: Sandbox) -> None:
    now = sandbox.now()
    posts = accounts.posts(Platform.TIKTOK, "dancewithmia", sandbox.anchor, now)[:2]
    ours: Any = skeleton(accounts.tikwm_posts(posts, now, "1", True))
    stored: Any = skeleton(json.loads(sample("tikwm_user_posts.json")))
    assert set(ours) == set(stored)
    assert set(ours["data"]) == set(stored["data"])
    assert set(ours["data"]["videos"][0]) <= set(stored["data"]["videos"][0])
    assert null_tolerant(ours["data"]["videos"][0]["author"], stored["data"]["videos"][0]["author"])
    ig = accounts.posts(Platform.INSTAGRAM, "natgeo", sandbox.anchor, now)[:1]
    ig_ours: Any = skeleton(accounts.instagram_reels("natgeo", ig, now, "x", True))
    ig_stored: Any = skeleton(json.loads(sample("instagram_reels.json")))
    assert null_tolerant(ig_ours["data"]["user"], ig_stored["data"]["user"])
    clips = "xdt_api__v1__clips__user__connection_v2"
    assert set(ig_ours["data"][clips]) == set(ig_stored["data"][clips])
    media = ig_ours["data"][clips]["edges"][0]["node"]["media"]
    assert set(media) <= set(ig_stored["data"][clips]["edges"][0]["node"]["media"])


def _retrier() -> Retrier:
    return Retrier(RetryPolicy(max_attempts=1))


async def test_a_sandbox_account_grows_with_the_clock_and_pages(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    lister = TikTokLister(http, SANDBOX_URL, None, _retrier())
    sandbox.offset = -(sandbox.now() - sandbox.anchor)  # now: the anchor itself
    first = await lister.list_page("scout2015", None)
    assert isinstance(first, ListingPage)
    assert len(first.items) == accounts.HISTORY + 1  # the history and post 0, at the anchor
    assert first.account_id == user_id(Platform.TIKTOK, "scout2015")
    stamps = [i.published_at for i in first.items]
    assert stamps == sorted(stamps, reverse=True)  # type: ignore[type-var]
    sandbox.offset += accounts.EVERY
    later = await lister.list_page("scout2015", None)
    assert isinstance(later, ListingPage)
    assert later.items[1].post_id == first.items[0].post_id  # one new post on top
    assert later.items[0].post_id not in {i.post_id for i in first.items}
    # A long history spans pages, each after the last one's cursor.
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await lister.list_page("longhistory_1", cursor)
        assert isinstance(page, ListingPage)
        seen += [i.post_id for i in page.items]
        pages += 1
        if not page.has_more:
            break
        cursor = page.cursor
    assert pages >= 3
    assert len(seen) == len(set(seen)) == accounts.LONG_HISTORY + 2


async def test_listed_posts_answer_stats_naming_the_account(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    lister = TikTokLister(http, SANDBOX_URL, None, _retrier())
    page = await lister.list_page("scout2015", None)
    assert isinstance(page, ListingPage)
    stats = await TikTokPrimary(http, SANDBOX_URL, None).fetch(
        VideoRef(Platform.TIKTOK, page.items[0].post_id, "scout2015")
    )
    assert isinstance(stats, VideoStats)
    assert (stats.handle, stats.platform_user_id) == ("scout2015", page.account_id)
    assert stats.published_at == page.items[0].published_at
    ig = InstagramLister(http, SANDBOX_URL, None, _retrier())
    reels = await ig.list_page("mixed_1", None)
    assert isinstance(reels, ListingPage)
    kinds = {i.is_video for i in reels.items}
    assert kinds == {True, False}  # carousels and images among the reels
    reel = next(i for i in reels.items if i.is_video)
    answer = await InstagramProvider(http, SANDBOX_URL, None).fetch(
        VideoRef(Platform.INSTAGRAM, reel.post_id)
    )
    assert isinstance(answer, VideoStats)
    assert answer.handle == "mixed_1"


async def test_magic_handles(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    tiktok = TikTokLister(http, SANDBOX_URL, None, _retrier())
    instagram = InstagramLister(http, SANDBOX_URL, None, _retrier())
    for lister in (tiktok, instagram):
        private = await lister.list_page("private_1", None)
        assert isinstance(private, FetchError)
        assert private.kind is FetchErrorKind.PRIVATE
        missing = await lister.list_page("missing_1", None)
        assert isinstance(missing, FetchError)
        assert missing.kind is FetchErrorKind.NOT_FOUND
        other = await lister.list_page("other_1", None)
        assert isinstance(other, ListingPage)
        assert {i.author_handle for i in other.items} == {"dev.daily"}
    # A renamed account: one user id, the new handle once the clock passes the rename.
    before = await tiktok.list_page("renamer_3", None)
    assert isinstance(before, ListingPage)
    assert before.account_handle == "renamer_3"
    sandbox.offset = (sandbox.anchor + accounts.EVERY * 9) - sandbox.now()
    after = await tiktok.list_page("renamed_3", None)
    assert isinstance(after, ListingPage)
    assert (after.account_handle, after.account_id) == ("renamed_3", before.account_id)


def test_youtube_uploads_page() -> None:
    """playlistItems.list of a channel's uploads: the video's own publish time, its owner's
    channel id, title and description as the caption; a private upload is left out."""
    page = parse_youtube(reply("youtube_playlist_items.json"))
    assert isinstance(page, ListingPage)
    assert (page.cursor, page.has_more, page.source) == (
        "EAAaBlBUOkNESQ",
        True,
        StatsSource.YOUTUBE,
    )
    assert page.account_id == "UCq9AzRNQtVc4bsQVqg6xgpQ"
    assert [i.post_id for i in page.items] == ["dQw4w9WgXcQ", "9bZkp7q970M"]
    assert page.items[0] == Listed(
        post_id="dQw4w9WgXcQ",
        published_at=datetime(2025, 5, 2, 16, 0, tzinfo=UTC),
        is_video=True,
        author_id="UCq9AzRNQtVc4bsQVqg6xgpQ",
        author_handle=None,
        caption="morning routine in 30 seconds #shorts\n#ad thanks to our sponsor",
    )
    assert (page.items[1].views, page.items[1].likes) == (None, None)  # no statistics
    last = json.loads(sample("youtube_playlist_items.json"))
    del last["nextPageToken"]
    final = parse_youtube(Reply(200, json.dumps(last).encode()))
    assert isinstance(final, ListingPage)
    assert (final.cursor, final.has_more) == (None, False)


def test_youtube_listing_errors() -> None:
    missing = parse_youtube(reply("youtube_playlist_not_found.json", 404))
    assert isinstance(missing, FetchError)
    assert missing.kind is FetchErrorKind.NOT_FOUND
    quota = parse_youtube(reply("provider_samples/youtube/http403_quota_exceeded.json", 403))
    assert isinstance(quota, FetchError)
    assert quota.kind is FetchErrorKind.QUOTA_EXHAUSTED
    key = parse_youtube(reply("provider_samples/youtube/http400_key_invalid.json", 400))
    assert isinstance(key, FetchError)
    assert key.kind is FetchErrorKind.AUTH
    videos = parse_youtube(Reply(200, b'{"kind": "youtube#videoListResponse", "items": []}'))
    assert isinstance(videos, FetchError)
    assert videos.kind is FetchErrorKind.UPSTREAM
    assert uploads_playlist("UCq9AzRNQtVc4bsQVqg6xgpQ") == "UUq9AzRNQtVc4bsQVqg6xgpQ"
    assert uploads_playlist("mia_moves") is None


async def test_a_sandbox_channel_lists_its_uploads_newest_first_in_pages(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    lister = YouTubeLister(http, SANDBOX_URL, None, _retrier())
    channel = accounts.channel_id("longhistory_5")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await lister.list_page(channel, cursor)
        assert isinstance(page, ListingPage)
        assert {i.author_id for i in page.items} == {channel}
        seen += [i.post_id for i in page.items]
        pages += 1
        if not page.has_more:
            break
        cursor = page.cursor
    expected = accounts.posts(Platform.YOUTUBE, channel, sandbox.anchor, sandbox.now())
    assert seen == [p.video.post_id for p in expected]
    assert pages == -(-len(expected) // 50)
    paths = [r.path for r in sandbox.requests if r.provider == "youtube"]
    assert paths == ["/youtube/v3/playlistItems"] * pages
    # A listed upload's stats (videos.list) name the channel.
    stats = await YouTubeClient(http, SANDBOX_URL, None, RetryPolicy(max_attempts=1)).fetch(
        VideoRef(Platform.YOUTUBE, seen[0])
    )
    assert isinstance(stats, VideoStats)
    assert stats.platform_user_id == channel
    assert stats.published_at == expected[0].video.created_at
    # No such channel (or no channel id at all): not found.
    for name in (accounts.channel_id("missing_1"), "mia_moves"):
        missing = await lister.list_page(name, None)
        assert isinstance(missing, FetchError)
        assert missing.kind is FetchErrorKind.NOT_FOUND
