"""The sandbox speaks the real shapes, tells a deterministic growing story per id, and
misbehaves exactly as its magic ids and faults say."""

import json
from datetime import timedelta

import httpx
import pytest

from app.domain.enums import Platform
from app.platforms.sandbox import (
    BAD_KEY,
    UNSUBSCRIBED_KEY,
    Curve,
    Magic,
    Sandbox,
    create_app,
    instagram_shortcode,
    magic_of,
    synthetic_video,
    tiktok_id,
)
from app.platforms.sandbox.magic import INSTAGRAM_PREFIXES, TIKTOK_CODES
from app.platforms.urls import PostRef, parse_video_url
from tests.platforms.conftest import NOW, sample

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
    assert set(TIKTOK_CODES.values()) | set(INSTAGRAM_PREFIXES.values()) == set(Magic)
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
