"""The sandbox speaks the real shapes, tells a deterministic growing story per id, and
misbehaves exactly as its magic ids and faults say."""

import json
from datetime import timedelta

import httpx
import pytest

from app.domain.enums import Platform, StatsSource
from app.platforms.contract import VideoRef, VideoStats, outcome_code
from app.platforms.instagram import InstagramProvider
from app.platforms.registry import build_clients
from app.platforms.retry import RetryPolicy
from app.platforms.sandbox import (
    BAD_KEY,
    OTHER_AUTHOR_HANDLE,
    RENAME_AFTER,
    UNSUBSCRIBED_KEY,
    Curve,
    Magic,
    Sandbox,
    create_app,
    instagram_shortcode,
    magic_of,
    published_id,
    rename_handles,
    synthetic_video,
    tiktok_id,
    user_id,
    video_at,
    youtube_id,
)
from app.platforms.sandbox.magic import INSTAGRAM_PREFIXES, TIKTOK_CODES, YOUTUBE_PREFIXES
from app.platforms.tiktok_backup import TikTokBackup
from app.platforms.tiktok_primary import TikTokPrimary
from app.platforms.urls import PostRef, normalize_post_id, parse_video_url
from app.platforms.youtube import YouTubeClient
from tests.platforms.conftest import NOW, SAMPLES, SANDBOX_URL, sample
from tests.platforms.test_registry import sandbox_settings

TIKTOK_VIDEO = "7412345678901234567"
INSTAGRAM_POST = "DF5s0duxDts"


def primary_form(video_id: str) -> dict[str, str]:
    return {"url": f"https://www.tiktok.com/@someone/video/{video_id}", "hd": "0"}


def instagram_params(shortcode: str) -> dict[str, str]:
    return {"url": f"https://www.instagram.com/p/{shortcode}/"}


# Shapes


def skeleton(value: object) -> object:
    """Keys and value types, recursively: what "the same shape" means."""
    if isinstance(value, dict):
        return {key: skeleton(member) for key, member in value.items()}
    if isinstance(value, list):
        return [skeleton(value[0])] if value else []
    return type(value).__name__


def null_tolerant(a: object, b: object) -> bool:
    """Same skeleton, where null stands for any value (samples hold real nulls)."""
    if "NoneType" in (a, b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(null_tolerant(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(null_tolerant, a, b))
    return a == b


@pytest.mark.parametrize(
    ("sample_name", "method", "path", "kwargs"),
    [
        ("tikwm_ok.json", "POST", "/api/", {"data": primary_form(TIKTOK_VIDEO)}),
        (
            "tikwm_url_parsing_failed.json",
            "POST",
            "/api/",
            {"data": primary_form(tiktok_id(Magic.DELETED))},
        ),
        (
            "tikwm_free_api_limit.json",
            "POST",
            "/api/",
            {"data": primary_form(tiktok_id(Magic.FREE_API_LIMIT))},
        ),
        ("tiktok_detail_ok.json", "GET", "/api/post/detail", {"params": {"videoId": TIKTOK_VIDEO}}),
        (
            "tiktok_detail_10204.json",
            "GET",
            "/api/post/detail",
            {"params": {"videoId": tiktok_id(Magic.DELETED)}},
        ),
        (
            "tiktok_detail_10222.json",
            "GET",
            "/api/post/detail",
            {"params": {"videoId": tiktok_id(Magic.PRIVATE_ACCOUNT)}},
        ),
        (
            "rapidapi_401.json",
            "GET",
            "/api/post/detail",
            {"params": {"videoId": TIKTOK_VIDEO}, "headers": {"x-rapidapi-key": BAD_KEY}},
        ),
        (
            "rapidapi_403.json",
            "POST",
            "/api/",
            {"data": primary_form(TIKTOK_VIDEO), "headers": {"x-rapidapi-key": UNSUBSCRIBED_KEY}},
        ),
        (
            "rapidapi_429.json",
            "GET",
            "/api/post/detail",
            {"params": {"videoId": tiktok_id(Magic.RATE_LIMITED)}},
        ),
        (
            "instagram_reel_ok.json",
            "GET",
            "/v1/instagram/post",
            {"params": instagram_params(INSTAGRAM_POST)},
        ),
        (
            "instagram_legacy_ok.json",
            "GET",
            "/v1/instagram/post",
            {"params": instagram_params(instagram_shortcode(Magic.LEGACY_SHAPE))},
        ),
        (
            "instagram_carousel.json",
            "GET",
            "/v1/instagram/post",
            {"params": instagram_params(instagram_shortcode(Magic.CAROUSEL))},
        ),
        (
            "instagram_photo.json",
            "GET",
            "/v1/instagram/post",
            {"params": instagram_params(instagram_shortcode(Magic.PHOTO))},
        ),
        (
            "instagram_null_media.json",
            "GET",
            "/v1/instagram/post",
            {"params": instagram_params(instagram_shortcode(Magic.DELETED))},
        ),
        (
            "instagram_require_login.json",
            "GET",
            "/v1/instagram/post",
            {"params": instagram_params(instagram_shortcode(Magic.LOGIN_REQUIRED))},
        ),
    ],
)
async def test_answers_have_the_real_shapes(
    http: httpx.AsyncClient, sample_name: str, method: str, path: str, kwargs: dict[str, object]
) -> None:
    response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
    expected = skeleton(json.loads(sample(sample_name)))
    actual = skeleton(response.json())
    assert null_tolerant(actual, expected), f"{actual}\n!=\n{expected}"


# Synthetic stats


def test_same_id_same_story() -> None:
    anchor = NOW
    a = synthetic_video(Platform.TIKTOK, TIKTOK_VIDEO, anchor)
    b = synthetic_video(Platform.TIKTOK, TIKTOK_VIDEO, anchor)
    assert a == b
    assert a.counts_at(NOW) == b.counts_at(NOW)
    assert synthetic_video(Platform.TIKTOK, "7412345678901234568", anchor) != a


async def test_two_sandboxes_agree(http: httpx.AsyncClient) -> None:
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(Sandbox(now=lambda: NOW))),
        base_url="http://other.test",
    )
    async with other:
        params = {"videoId": TIKTOK_VIDEO}
        first = (await http.get("/api/post/detail", params=params)).json()
        second = (await other.get("/api/post/detail", params=params)).json()
    assert first["itemInfo"] == second["itemInfo"]


def test_stats_only_grow_and_follow_each_curve() -> None:
    videos = [
        synthetic_video(Platform.TIKTOK, str(7_400_000_000_000_000_000 + n), NOW)
        for n in range(400)
    ]
    assert {v.curve for v in videos} == set(Curve)
    for video in videos:
        days = [
            video.counts_at(video.created_at + timedelta(days=d)).views
            for d in (0, 1, 3, 7, 14, 30, 60)
        ]
        assert days[0] == 0
        assert days == sorted(days), video
        assert days[-1] > 0
        if video.curve is Curve.STALLED:
            assert days[-1] < 1000
        else:
            assert days[-1] >= 1000
        if video.curve is Curve.VIRAL:
            assert days[-1] >= 400_000
        if video.curve is Curve.SLOW_STARTER:
            # Barely anything on day one, most of it later.
            assert days[1] < days[-1] * 0.2
        later = video.counts_at(video.created_at + timedelta(days=9))
        assert later.likes <= later.views
        assert later.comments <= later.views


def test_publish_times_spread_over_forty_days() -> None:
    ages = [
        NOW - synthetic_video(Platform.INSTAGRAM, f"C{n:010d}", NOW).created_at for n in range(300)
    ]
    assert all(timedelta(0) <= age <= timedelta(days=40) for age in ages)
    assert any(age < timedelta(days=7) for age in ages)
    assert any(timedelta(days=7) < age < timedelta(days=30) for age in ages)
    assert any(age > timedelta(days=30) for age in ages)


async def test_stats_grow_with_the_sandbox_clock(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    video = sandbox.video(Platform.TIKTOK, TIKTOK_VIDEO)
    sandbox.offset = video.created_at + timedelta(hours=2) - NOW

    async def views() -> int:
        body = (await http.post("/api/", data=primary_form(TIKTOK_VIDEO))).json()
        return int(body["data"]["play_count"])

    early = await views()
    response = await http.post("/__sandbox/clock", json={"advance_seconds": 5 * 86400})
    assert response.json()["offset_seconds"] == sandbox.offset.total_seconds()
    assert await views() > early
    assert early == video.counts_at(video.created_at + timedelta(hours=2)).views


# Magic ids and keys


def test_magic_ids_round_trip_and_real_ids_are_never_magic() -> None:
    for magic in TIKTOK_CODES.values():
        assert magic_of(Platform.TIKTOK, tiktok_id(magic, 42)) is magic
    for magic in INSTAGRAM_PREFIXES.values():
        assert magic_of(Platform.INSTAGRAM, instagram_shortcode(magic, 42)) is magic
    for magic in YOUTUBE_PREFIXES.values():
        made = youtube_id(magic, 42)
        assert magic_of(Platform.YOUTUBE, made) is magic
        assert normalize_post_id(Platform.YOUTUBE, made) == made  # canonical, 11 characters
    assert magic_of(Platform.YOUTUBE, "dQw4w9WgXcQ") is None
    assert magic_of(Platform.YOUTUBE, "GONE00001AA") is None
    every = set(TIKTOK_CODES.values()) | set(INSTAGRAM_PREFIXES.values())
    assert every | set(YOUTUBE_PREFIXES.values()) == set(Magic)
    with pytest.raises(ValueError, match="no TikTok magic id"):
        tiktok_id(Magic.CAROUSEL)
    assert magic_of(Platform.TIKTOK, "7412345678901234404") is None
    assert magic_of(Platform.INSTAGRAM, "DELETED") is None
    assert magic_of(Platform.INSTAGRAM, "C_x9Deleted") is None
    assert tiktok_id(Magic.DELETED) != tiktok_id(Magic.DELETED, 1)
    assert isinstance(
        parse_video_url(f"https://www.tiktok.com/@a/video/{tiktok_id(Magic.SLOW)}"), PostRef
    )


@pytest.mark.parametrize(
    ("video_id", "primary_status", "backup_status"),
    [
        (tiktok_id(Magic.SERVER_ERROR), 500, 500),
        (tiktok_id(Magic.PRIMARY_DOWN), 503, 200),
        (tiktok_id(Magic.RATE_LIMITED), 429, 429),
        (tiktok_id(Magic.MALFORMED), 200, 200),
    ],
)
async def test_tiktok_failure_ids(
    http: httpx.AsyncClient, video_id: str, primary_status: int, backup_status: int
) -> None:
    primary = await http.post("/api/", data=primary_form(video_id))
    backup = await http.get("/api/post/detail", params={"videoId": video_id})
    assert (primary.status_code, backup.status_code) == (primary_status, backup_status)
    if primary_status == 429:
        assert primary.headers["retry-after"] == backup.headers["retry-after"] == "2"


async def test_flaky_id_fails_then_answers(http: httpx.AsyncClient) -> None:
    video_id = tiktok_id(Magic.FLAKY)
    statuses = [
        (await http.post("/api/", data=primary_form(video_id))).status_code for _ in range(3)
    ]
    assert statuses == [502, 502, 200]


async def test_keys_are_optional_but_checked(http: httpx.AsyncClient) -> None:
    url = "/v1/instagram/post"
    params = instagram_params(INSTAGRAM_POST)
    assert (await http.get(url, params=params)).status_code == 200
    assert (await http.get(url, params=params, headers={"x-api-key": "any"})).status_code == 200
    refused = await http.get(url, params=params, headers={"x-api-key": BAD_KEY})
    assert refused.status_code == 401
    assert "require_login" not in refused.json()


# Faults, request log, clock


async def test_global_faults_apply_to_every_id_until_cleared(http: httpx.AsyncClient) -> None:
    response = await http.post("/__sandbox/faults", json={"tiktok_primary": "503"})
    assert response.json()["tiktok_primary"] == "503"
    assert (await http.post("/api/", data=primary_form(TIKTOK_VIDEO))).status_code == 503
    detail = await http.get("/api/post/detail", params={"videoId": TIKTOK_VIDEO})
    assert detail.status_code == 200
    await http.post("/__sandbox/faults", json={"tiktok_primary": None})
    assert (await http.post("/api/", data=primary_form(TIKTOK_VIDEO))).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"tiktok_primary": "404"}, {"nonsense": "500"}, {"latency_ms": -1}, {"latency_ms": True}, [1]],
)
async def test_fault_settings_are_validated(http: httpx.AsyncClient, body: object) -> None:
    assert (await http.post("/__sandbox/faults", json=body)).status_code == 400
    assert (await http.get("/__sandbox/faults")).json() == {
        "tiktok_primary": None,
        "tiktok_backup": None,
        "instagram": None,
        "youtube": None,
        "latency_ms": 0,
    }


async def test_request_log_records_filters_and_clears(http: httpx.AsyncClient) -> None:
    await http.post("/api/", data=primary_form(TIKTOK_VIDEO))
    await http.get("/api/post/detail", params={"videoId": TIKTOK_VIDEO})
    await http.get("/v1/instagram/post", params=instagram_params(INSTAGRAM_POST))
    everything = (await http.get("/__sandbox/requests")).json()["requests"]
    assert [(r["provider"], r["video_id"], r["method"]) for r in everything] == [
        ("tiktok_primary", TIKTOK_VIDEO, "POST"),
        ("tiktok_backup", TIKTOK_VIDEO, "GET"),
        ("instagram", INSTAGRAM_POST, "GET"),
    ]
    assert everything[0]["at"] == NOW.isoformat()
    assert everything[0]["monotonic"] <= everything[2]["monotonic"]
    only_ig = (await http.get("/__sandbox/requests", params={"provider": "instagram"})).json()
    assert [r["video_id"] for r in only_ig["requests"]] == [INSTAGRAM_POST]
    assert (await http.delete("/__sandbox/requests")).status_code == 204
    assert (await http.get("/__sandbox/requests")).json() == {"requests": []}


async def test_describe_video_matches_what_providers_say(http: httpx.AsyncClient) -> None:
    described = (await http.get(f"/__sandbox/videos/instagram/{INSTAGRAM_POST}")).json()
    answer = (await http.get("/v1/instagram/post", params=instagram_params(INSTAGRAM_POST))).json()
    media = answer["data"]["xdt_shortcode_media"]
    assert described["stats"]["views"] == media["video_play_count"]
    assert described["handle"] == media["owner"]["username"]
    assert described["magic"] is None


# Short links


@pytest.mark.parametrize(
    "url",
    [
        "https://vm.tiktok.com/ZMabc123/",
        "https://vt.tiktok.com/ZSxyz/",
        "https://www.tiktok.com/t/ZTq1w2/",
    ],
)
async def test_tiktok_short_links_redirect_to_a_video(sandbox: Sandbox, url: str) -> None:
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport) as client:
        first = await client.get(url)
        again = await client.get(url)
    assert first.status_code == 301
    location = first.headers["location"]
    assert location == again.headers["location"]
    ref = parse_video_url(location)
    assert isinstance(ref, PostRef)
    assert (ref.platform, ref.handle) == (Platform.TIKTOK, "sandbox_user")
    assert sandbox.requests[-1].provider == "shortlink"


async def test_instagram_share_links_and_traps(sandbox: Sandbox) -> None:
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport) as client:
        share = await client.get("https://www.instagram.com/share/reel/BAabc123/")
        loop = await client.get("https://vm.tiktok.com/LOOP/")
        evil = await client.get("https://www.instagram.com/share/EVIL")
        other = await client.get("https://www.tiktok.com/@someone/video/1")
    ref = parse_video_url(share.headers["location"])
    assert isinstance(ref, PostRef)
    assert ref.platform is Platform.INSTAGRAM
    assert share.headers["location"].startswith("https://www.instagram.com/reel/")
    assert loop.headers["location"] == "https://vm.tiktok.com/LOOP/"
    assert evil.headers["location"] == "https://evil.example.com/"
    assert other.status_code == 404


# Magic ids for issue 10: real failure answers, chosen authors and publish times

PROVIDER_SAMPLES = SAMPLES / "provider_samples"


def real(path: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((PROVIDER_SAMPLES / path).read_bytes())
    return loaded


@pytest.mark.parametrize(
    ("magic", "primary_sample", "backup_sample"),
    [
        (Magic.QUOTA_EXHAUSTED, "tikwm/err_free_api_limit_per_day.json", None),
        (
            Magic.WITHHELD,
            "tikwm/err_url_parsing_failed.json",
            "tiktok_detail/status_10204_cross_border_violation.json",
        ),
        (
            Magic.UNDER_REVIEW,
            "tikwm/err_url_parsing_failed.json",
            "tiktok_detail/status_10204_author_reviewing.json",
        ),
    ],
)
async def test_failure_ids_answer_what_the_real_providers_said(
    http: httpx.AsyncClient, magic: Magic, primary_sample: str, backup_sample: str | None
) -> None:
    video_id = tiktok_id(magic, 7)
    primary = (await http.post("/api/", data=primary_form(video_id))).json()
    assert (primary["code"], primary["msg"]) == (
        real(primary_sample)["code"],
        real(primary_sample)["msg"],
    )
    backup = (await http.get("/api/post/detail", params={"videoId": video_id})).json()
    if backup_sample is None:  # the backup answers the video
        assert backup["statusCode"] == 0
        assert backup["itemInfo"]["itemStruct"]["id"] == video_id
    else:
        expected = real(backup_sample)
        assert (backup["statusCode"], backup["statusMsg"]) == (
            expected["statusCode"],
            expected["statusMsg"],
        )


@pytest.mark.parametrize(
    ("post", "outcome", "source"),
    [
        (tiktok_id(Magic.QUOTA_EXHAUSTED), "refreshed", StatsSource.BACKUP),
        (tiktok_id(Magic.WITHHELD), "withheld", StatsSource.BACKUP),
        (tiktok_id(Magic.UNDER_REVIEW), "under_review", StatsSource.BACKUP),
        (tiktok_id(Magic.DELETED), "not_found", StatsSource.BACKUP),
        (tiktok_id(Magic.PRIVATE_POST), "private", StatsSource.BACKUP),
        (instagram_shortcode(Magic.CAROUSEL, 3), "skipped_carousel", StatsSource.INSTAGRAM),
        (instagram_shortcode(Magic.PHOTO), "skipped_photo", StatsSource.INSTAGRAM),
        (instagram_shortcode(Magic.DELETED), "not_found", StatsSource.INSTAGRAM),
    ],
)
async def test_magic_ids_give_their_outcome_through_the_clients(
    http: httpx.AsyncClient, post: str, outcome: str, source: StatsSource
) -> None:
    platform = Platform.INSTAGRAM if "_" in post else Platform.TIKTOK
    client = build_clients(sandbox_settings(provider_max_attempts=1), http)[platform]
    result = await client.fetch(VideoRef(platform, post, "someone"))
    assert (outcome_code(result), result.source) == (outcome, source)


MAKE = {
    Platform.TIKTOK: tiktok_id,
    Platform.INSTAGRAM: instagram_shortcode,
    Platform.YOUTUBE: youtube_id,
}


def named(platform: Platform, handle: str) -> str | None:
    """The handle an answer names: YouTube's name the channel id only."""
    return None if platform is Platform.YOUTUBE else handle


async def fetch_all(http: httpx.AsyncClient, post: str, handle: str) -> list[VideoStats]:
    """The video as the primary, the backup, Instagram (for shortcodes) or YouTube (for
    YouTube magic ids) report it."""
    if magic_of(Platform.YOUTUBE, post) is not None:
        client = YouTubeClient(http, SANDBOX_URL, None, RetryPolicy(max_attempts=1))
        results = [await client.fetch(VideoRef(Platform.YOUTUBE, post))]
    elif "_" in post:
        ref = VideoRef(Platform.INSTAGRAM, post)
        results = [await InstagramProvider(http, SANDBOX_URL, None).fetch(ref)]
    else:
        ref = VideoRef(Platform.TIKTOK, post, handle)
        results = [
            await TikTokPrimary(http, SANDBOX_URL, None).fetch(ref),
            await TikTokBackup(http, SANDBOX_URL, None).fetch(ref),
        ]
    assert all(isinstance(r, VideoStats) for r in results), results
    return [r for r in results if isinstance(r, VideoStats)]


@pytest.mark.parametrize("platform", list(Platform))
async def test_other_author_is_named_whatever_the_url_says(
    http: httpx.AsyncClient, sandbox: Sandbox, platform: Platform
) -> None:
    make = MAKE[platform]
    for variant in (0, 1):
        post = make(Magic.OTHER_AUTHOR, variant)
        for stats in await fetch_all(http, post, handle="brand_new_guy"):
            assert (stats.handle, stats.platform_user_id) == (
                named(platform, OTHER_AUTHOR_HANDLE),
                user_id(platform, OTHER_AUTHOR_HANDLE),
            )
            assert stats.published_at == sandbox.anchor - timedelta(days=1)
    described = (await http.get(f"/__sandbox/videos/{platform}/{post}")).json()
    assert described["handle"] == OTHER_AUTHOR_HANDLE


@pytest.mark.parametrize("platform", list(Platform))
async def test_renaming_author_keeps_its_user_id_and_changes_handle_with_the_clock(
    http: httpx.AsyncClient, sandbox: Sandbox, platform: Platform
) -> None:
    make = MAKE[platform]
    post = make(Magic.RENAMES, 4)
    before, after = rename_handles(4)
    assert sandbox.now() < sandbox.anchor + RENAME_AFTER
    first = await fetch_all(http, post, handle=before)
    assert {(s.handle, s.platform_user_id) for s in first} == {
        (named(platform, before), user_id(platform, before))
    }

    # Just short of the rename: still the old handle.
    to_rename = (sandbox.anchor + RENAME_AFTER - sandbox.now()).total_seconds()
    await http.post("/__sandbox/clock", json={"advance_seconds": to_rename - 1})
    assert {s.handle for s in await fetch_all(http, post, handle=before)} == {
        named(platform, before)
    }

    await http.post("/__sandbox/clock", json={"advance_seconds": 1})
    later = await fetch_all(http, post, handle=before)
    assert {(s.handle, s.platform_user_id) for s in later} == {
        (named(platform, after), user_id(platform, before))
    }
    assert all(s.views >= f.views for s, f in zip(later, first, strict=True))
    # Another variant is another account.
    other = await fetch_all(http, make(Magic.RENAMES, 5), handle="x")
    assert other[0].platform_user_id != later[0].platform_user_id


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize("hours", [0, 1, 24 * 18 + 12, 24 * 45])
async def test_published_ids_are_published_when_asked(
    http: httpx.AsyncClient, sandbox: Sandbox, platform: Platform, hours: int
) -> None:
    first, second = published_id(platform, hours), published_id(platform, hours, n=1)
    assert first != second
    for post in (first, second):
        for stats in await fetch_all(http, post, handle="someone"):
            assert stats.published_at == sandbox.anchor - timedelta(hours=hours)
    described = (await http.get(f"/__sandbox/videos/{platform}/{first}")).json()
    assert described["created_at"] == (sandbox.anchor - timedelta(hours=hours)).isoformat()
    assert described["curve"] == "steady"


def test_published_ids_refuse_what_they_cannot_encode() -> None:
    with pytest.raises(ValueError, match="hours_before_anchor"):
        published_id(Platform.TIKTOK, -1)
    with pytest.raises(ValueError, match="hours_before_anchor"):
        published_id(Platform.TIKTOK, 1, n=1000)
    assert published_id(Platform.TIKTOK, 48, 2) == "9999000000048002603"
    assert published_id(Platform.INSTAGRAM, 48, 2) == "PUB_48002"


def test_shaped_ids_pass_a_thousand_views_within_a_week() -> None:
    for variant in range(50):
        for platform in Platform:
            post = published_id(platform, 0, variant)
            video = video_at(platform, post, NOW, NOW)
            assert video.counts_at(video.created_at + timedelta(days=7)).views >= 1000


def test_a_sandbox_whose_smtp_port_is_taken_serves_the_rest() -> None:
    """Two sandboxes on one machine (a `make run` and a test's, or two tests') used to make
    the second exit at start, its SMTP sink's port taken; now it warns and serves."""
    import socket
    import subprocess
    import sys

    from app.settings import PROJECT_ROOT
    from tests.processes import free_port, stop, wait_for

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = free_port()
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "app.platforms.sandbox"),
                *("--port", str(port), "--smtp-port", str(taken.getsockname()[1])),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/__sandbox/faults")
        finally:
            stop(proc)
        assert proc.stderr is not None
        assert b"SMTP sink is not listening" in proc.stderr.read()
