"""Each provider client, one request, against the sandbox: what it sends and what it makes
of every kind of answer."""

from dataclasses import replace

import httpx
import pytest

from app.domain.enums import Platform, StatsSource
from app.platforms.contract import (
    FetchError,
    FetchErrorKind,
    FetchResult,
    SkipCode,
    Skipped,
    VideoRef,
    VideoStats,
)
from app.platforms.instagram import InstagramProvider
from app.platforms.sandbox import (
    BAD_KEY,
    UNSUBSCRIBED_KEY,
    Magic,
    Sandbox,
    instagram_shortcode,
    tiktok_id,
)
from app.platforms.tiktok_backup import TikTokBackup
from app.platforms.tiktok_primary import TikTokPrimary
from tests.platforms.conftest import NOW, SANDBOX_URL

TIKTOK_VIDEO = "7412345678901234567"
INSTAGRAM_POST = "DF5s0duxDts"


def tiktok(video_id: str, handle: str | None = "someone") -> VideoRef:
    return VideoRef(Platform.TIKTOK, video_id, handle)


def instagram_post(shortcode: str) -> VideoRef:
    return VideoRef(Platform.INSTAGRAM, shortcode)


def expected_stats(sandbox: Sandbox, ref: VideoRef, source: StatsSource) -> VideoStats:
    video = sandbox.video(ref.platform, ref.post_id)
    counts = video.counts_at(NOW)
    return VideoStats(
        views=counts.views,
        likes=counts.likes,
        comments=counts.comments,
        shares=counts.shares if ref.platform is Platform.TIKTOK else None,
        handle=video.handle,
        platform_user_id=video.user_id,
        published_at=video.created_at,
        source=source,
        views_field=VIEWS_FIELDS[source],
    )


VIEWS_FIELDS = {
    StatsSource.PRIMARY: "play_count",
    StatsSource.BACKUP: "statsV2.playCount",
    StatsSource.INSTAGRAM: "video_play_count",
}


def error_kind(result: FetchResult) -> FetchErrorKind:
    assert isinstance(result, FetchError), result
    return result.kind


# Requests


async def test_primary_posts_the_canonical_url_with_rapidapi_headers(
    http: httpx.AsyncClient,
) -> None:
    request = TikTokPrimary(http, "https://tiktok-scraper7.p.rapidapi.com/", "k3y").request(
        tiktok(TIKTOK_VIDEO, "mia")
    )
    assert (request.method, str(request.url)) == (
        "POST",
        "https://tiktok-scraper7.p.rapidapi.com/api/",
    )
    assert (
        request.content
        == b"url=https%3A%2F%2Fwww.tiktok.com%2F%40mia%2Fvideo%2F7412345678901234567&hd=0"
    )
    assert request.headers["x-rapidapi-key"] == "k3y"
    assert request.headers["x-rapidapi-host"] == "tiktok-scraper7.p.rapidapi.com"


async def test_backup_gets_by_id_and_keyless_requests_send_no_key_headers(
    http: httpx.AsyncClient,
) -> None:
    request = TikTokBackup(http, "http://127.0.0.1:8900", None).request(tiktok(TIKTOK_VIDEO))
    assert str(request.url) == "http://127.0.0.1:8900/api/post/detail?videoId=7412345678901234567"
    assert "x-rapidapi-key" not in request.headers
    assert "x-rapidapi-host" not in request.headers


async def test_instagram_gets_the_post_url_with_its_key(http: httpx.AsyncClient) -> None:
    request = InstagramProvider(http, "https://ig.example.com", "s3cret").request(
        instagram_post(INSTAGRAM_POST)
    )
    assert request.url.path == "/v1/instagram/post"
    assert request.url.params["url"] == "https://www.instagram.com/p/DF5s0duxDts/"
    assert request.headers["x-api-key"] == "s3cret"


# Answers


async def test_primary_and_backup_report_the_same_video(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    ref = tiktok(TIKTOK_VIDEO)
    primary = await TikTokPrimary(http, SANDBOX_URL, None).fetch(ref)
    backup = await TikTokBackup(http, SANDBOX_URL, None).fetch(ref)
    assert primary == expected_stats(sandbox, ref, StatsSource.PRIMARY)
    assert backup == expected_stats(sandbox, ref, StatsSource.BACKUP)


async def test_primary_works_without_a_handle(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    ref = tiktok(TIKTOK_VIDEO, handle=None)
    assert await TikTokPrimary(http, SANDBOX_URL, None).fetch(ref) == expected_stats(
        sandbox, ref, StatsSource.PRIMARY
    )


@pytest.mark.parametrize(
    ("magic", "primary", "backup"),
    [
        (Magic.DELETED, FetchErrorKind.NOT_FOUND, FetchErrorKind.NOT_FOUND),
        (Magic.PRIVATE_POST, FetchErrorKind.NOT_FOUND, FetchErrorKind.PRIVATE),
        (Magic.PRIVATE_ACCOUNT, FetchErrorKind.NOT_FOUND, FetchErrorKind.PRIVATE),
        (Magic.SERVER_ERROR, FetchErrorKind.UPSTREAM, FetchErrorKind.UPSTREAM),
        (Magic.RATE_LIMITED, FetchErrorKind.RATE_LIMITED, FetchErrorKind.RATE_LIMITED),
        (Magic.FREE_API_LIMIT, FetchErrorKind.RATE_LIMITED, None),
        (Magic.MALFORMED, FetchErrorKind.UPSTREAM, FetchErrorKind.UPSTREAM),
        (Magic.PRIMARY_DOWN, FetchErrorKind.UPSTREAM, None),
    ],
)
async def test_tiktok_error_classes(
    http: httpx.AsyncClient, magic: Magic, primary: FetchErrorKind, backup: FetchErrorKind | None
) -> None:
    ref = tiktok(tiktok_id(magic))
    assert error_kind(await TikTokPrimary(http, SANDBOX_URL, None).fetch(ref)) is primary
    backup_result = await TikTokBackup(http, SANDBOX_URL, None).fetch(ref)
    if backup is None:
        assert isinstance(backup_result, VideoStats)
    else:
        assert error_kind(backup_result) is backup


async def test_rate_limits_carry_retry_after(http: httpx.AsyncClient) -> None:
    ref = tiktok(tiktok_id(Magic.RATE_LIMITED))
    result = await TikTokBackup(http, SANDBOX_URL, None).fetch(ref)
    assert isinstance(result, FetchError)
    assert result.retry_after == 2.0


@pytest.mark.parametrize(("key", "status"), [(BAD_KEY, "401"), (UNSUBSCRIBED_KEY, "403")])
async def test_gateway_refusals_are_auth_errors(
    http: httpx.AsyncClient, key: str, status: str
) -> None:
    for provider in (
        TikTokPrimary(http, SANDBOX_URL, key),
        TikTokBackup(http, SANDBOX_URL, key),
        InstagramProvider(http, SANDBOX_URL, key),
    ):
        ref = (
            instagram_post(INSTAGRAM_POST)
            if provider.source is StatsSource.INSTAGRAM
            else tiktok(TIKTOK_VIDEO)
        )
        result = await provider.fetch(ref)
        assert isinstance(result, FetchError)
        assert (result.kind, result.source) == (FetchErrorKind.AUTH, provider.source)
        assert result.message.startswith(f"HTTP {status}")


async def test_instagram_video(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    ref = instagram_post(INSTAGRAM_POST)
    assert await InstagramProvider(http, SANDBOX_URL, None).fetch(ref) == expected_stats(
        sandbox, ref, StatsSource.INSTAGRAM
    )


async def test_instagram_legacy_shape_reads_view_count(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    ref = instagram_post(instagram_shortcode(Magic.LEGACY_SHAPE))
    assert await InstagramProvider(http, SANDBOX_URL, None).fetch(ref) == replace(
        expected_stats(sandbox, ref, StatsSource.INSTAGRAM), views_field="video_view_count"
    )


@pytest.mark.parametrize(
    ("magic", "expected"),
    [
        (Magic.CAROUSEL, Skipped("carousel_zero_views", StatsSource.INSTAGRAM, SkipCode.CAROUSEL)),
        (Magic.PHOTO, Skipped("photo_has_no_views", StatsSource.INSTAGRAM, SkipCode.PHOTO)),
        (Magic.DELETED, FetchErrorKind.NOT_FOUND),
        (Magic.PRIVATE_POST, FetchErrorKind.NOT_FOUND),
        (Magic.LOGIN_REQUIRED, FetchErrorKind.RATE_LIMITED),
        (Magic.RATE_LIMITED, FetchErrorKind.RATE_LIMITED),
        (Magic.SERVER_ERROR, FetchErrorKind.UPSTREAM),
        (Magic.MALFORMED, FetchErrorKind.UPSTREAM),
    ],
)
async def test_instagram_outcomes(
    http: httpx.AsyncClient, magic: Magic, expected: Skipped | FetchErrorKind
) -> None:
    result = await InstagramProvider(http, SANDBOX_URL, None).fetch(
        instagram_post(instagram_shortcode(magic))
    )
    if isinstance(expected, Skipped):
        assert result == expected
    else:
        assert error_kind(result) is expected


async def test_transport_failures_are_upstream_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    for handler, text in ((refuse, "transport error"), (stall, "timed out")):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            result = await TikTokPrimary(http, SANDBOX_URL, None).fetch(tiktok(TIKTOK_VIDEO))
        assert isinstance(result, FetchError)
        assert result.kind is FetchErrorKind.UPSTREAM
        assert result.message.startswith(text)
