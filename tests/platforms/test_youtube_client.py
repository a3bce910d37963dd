"""The YouTube client: real videos.list answers (samples/provider_samples/youtube/, sources in
SOURCES.md) are read exactly; up to 50 ids go in one request; hidden likes are unknown, not
0; a video left out of the answer is not found; quota and key errors are typed and stand for
every video of the call."""

import hashlib
import json
from datetime import UTC, datetime

import httpx
import pytest

from app.domain.enums import Platform, StatsSource
from app.platforms.contract import (
    FetchError,
    FetchErrorKind,
    VideoRef,
    VideoStats,
    outcome_code,
)
from app.platforms.http import Reply
from app.platforms.retry import RetryPolicy
from app.platforms.sandbox import Magic, Sandbox, videos_by, youtube_id
from app.platforms.sandbox.magic import BAD_KEY
from app.platforms.youtube import YouTubeClient, parse_reply
from tests.platforms.conftest import SAMPLES, SANDBOX_URL, FakeTime

YOUTUBE = SAMPLES / "provider_samples" / "youtube"


def read(name: str, status: int = 200) -> dict[str, object] | FetchError:
    answer = parse_reply(Reply(status, (YOUTUBE / name).read_bytes()))
    return answer if isinstance(answer, FetchError) else dict(answer)


def test_a_real_answer_is_read_exactly() -> None:
    answer = read("videos_list_2025_cbs_newyork.json")
    assert isinstance(answer, dict)
    stats = answer["mC2LZ4TitHw"]
    assert stats == VideoStats(
        views=5_249_181,
        likes=21_264,
        comments=733,
        shares=None,
        handle=None,  # channelTitle "CBS New York" is a display name, not the @handle
        platform_user_id="UCNZyLULUQBp5e9Q1cKtvk6Q",
        published_at=datetime(2025, 1, 1, 5, 33, 22, tzinfo=UTC),
        source=StatsSource.YOUTUBE,
        views_field="statistics.viewCount",
    )
    assert isinstance(stats, VideoStats)
    # The video's own item travels with its stats, for provenance.
    assert stats.raw is not None
    assert json.loads(stats.raw)["id"] == "mC2LZ4TitHw"
    assert stats.raw_sha256 == hashlib.sha256(stats.raw).hexdigest()


def test_hidden_likes_are_unknown_not_zero() -> None:
    answer = read("videos_list_likes_hidden_derived.json")
    assert isinstance(answer, dict)
    stats = answer["mC2LZ4TitHw"]
    assert isinstance(stats, VideoStats)
    assert (stats.views, stats.likes, stats.comments) == (5_249_181, None, 733)


def test_an_empty_answer_names_no_video() -> None:
    assert read("videos_list_empty_derived.json") == {}


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("http403_quota_exceeded.json", 403, FetchErrorKind.QUOTA_EXHAUSTED),
        ("http400_key_invalid.json", 400, FetchErrorKind.AUTH),
        ("http403_service_blocked_rewrapped.json", 403, FetchErrorKind.AUTH),
    ],
)
def test_real_errors_are_typed(name: str, status: int, kind: FetchErrorKind) -> None:
    answer = read(name, status)
    assert isinstance(answer, FetchError)
    assert (answer.kind, answer.source) == (kind, StatsSource.YOUTUBE)
    assert "<a" not in answer.message  # the quota message's link is not kept


@pytest.mark.parametrize(
    "body",
    [b"<html>", b"[]", b'{"kind": "youtube#videoListResponse"}', b'{"items": {}}'],
)
def test_shape_surprises_are_upstream(body: bytes) -> None:
    answer = parse_reply(Reply(200, body))
    assert isinstance(answer, FetchError)
    assert answer.kind is FetchErrorKind.UPSTREAM


def test_one_bad_item_does_not_spoil_the_others() -> None:
    good = json.loads((YOUTUBE / "videos_list_2025_cbs_newyork.json").read_bytes())
    bad = {"kind": "youtube#video", "id": "AAAAAAAAAAA", "snippet": {}, "statistics": {}}
    answer = parse_reply(Reply(200, json.dumps({**good, "items": [bad, *good["items"]]}).encode()))
    assert isinstance(answer, dict)
    assert isinstance(answer["mC2LZ4TitHw"], VideoStats)
    assert outcome_code(answer["AAAAAAAAAAA"]) == "upstream_error"


def client(http: httpx.AsyncClient, key: str | None = None, **policy: float) -> YouTubeClient:
    return YouTubeClient(
        http,
        SANDBOX_URL,
        key,
        RetryPolicy(**{"max_attempts": 1, **policy}),  # type: ignore[arg-type]
    )


def refs(ids: list[str]) -> list[VideoRef]:
    return [VideoRef(Platform.YOUTUBE, i) for i in ids]


async def test_up_to_fifty_videos_go_in_one_request(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    ids = videos_by(Platform.YOUTUBE, "sandbox-shorts", 120)
    results = await client(http).fetch_many(refs(ids))
    assert len(results) == 120
    assert all(isinstance(r, VideoStats) for r in results)
    asked = [r for r in sandbox.requests if r.provider == "youtube"]
    assert [len((r.video_id or "").split(",")) for r in asked] == [50, 50, 20]
    # Results come back in the order asked, each the video's own.
    first = results[0]
    assert isinstance(first, VideoStats)
    assert first.raw is not None
    assert json.loads(first.raw)["id"] == ids[0]


async def test_magic_ids_give_each_failure_mode(http: httpx.AsyncClient) -> None:
    normal = videos_by(Platform.YOUTUBE, "sandbox-shorts", 1)[0]
    gone, private, hidden = (
        youtube_id(Magic.DELETED),
        youtube_id(Magic.PRIVATE_POST),
        youtube_id(Magic.LIKES_HIDDEN),
    )
    results = await client(http).fetch_many(refs([normal, gone, private, hidden]))
    assert [outcome_code(r) for r in results] == [
        "refreshed",
        "not_found",
        "not_found",
        "refreshed",
    ]
    assert isinstance(results[3], VideoStats)
    assert results[3].likes is None
    assert isinstance(results[0], VideoStats)
    assert results[0].likes is not None

    # A key-level answer stands for every video of the call.
    for magic, outcome in ((Magic.QUOTA_EXHAUSTED, "quota_exhausted"), (Magic.KEY_INVALID, "auth")):
        batch = await client(http).fetch_many(refs([normal, youtube_id(magic)]))
        assert [outcome_code(r) for r in batch] == [outcome, outcome]
    refused = await client(http, BAD_KEY).fetch(refs([normal])[0])
    assert outcome_code(refused) == "auth"


async def test_transient_failures_are_retried_with_backoff(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    flaky = youtube_id(Magic.FLAKY, 7)
    yt = YouTubeClient(
        http,
        SANDBOX_URL,
        None,
        RetryPolicy(max_attempts=3, backoff_base_seconds=1.0),
        sleep=fake_time.sleep,
        clock=fake_time.monotonic,
        jitter=lambda: 0.0,
    )
    assert outcome_code(await yt.fetch(refs([flaky])[0])) == "refreshed"
    assert fake_time.sleeps == [0.5, 1.0]  # equal jitter at 0: half of 1 s, half of 2 s
    rate = await YouTubeClient(
        http,
        SANDBOX_URL,
        None,
        RetryPolicy(max_attempts=2),
        sleep=fake_time.sleep,
        clock=fake_time.monotonic,
    ).fetch(refs([youtube_id(Magic.RATE_LIMITED)])[0])
    assert outcome_code(rate) == "rate_limited"
    assert fake_time.sleeps[-1] == sandbox.retry_after_seconds  # Retry-After honoured


async def test_a_key_past_its_daily_units_is_quota_exhausted(http: httpx.AsyncClient) -> None:
    sandbox: Sandbox = http._transport.app.state.sandbox  # type: ignore[attr-defined]
    sandbox.youtube_daily_units = 2
    ids = videos_by(Platform.YOUTUBE, "sandbox-shorts", 3)
    yt = client(http, "some-key")
    outcomes = [outcome_code(await yt.fetch(r)) for r in refs(ids)]
    assert outcomes == ["refreshed", "refreshed", "quota_exhausted"]
    # Another key has its own quota.
    assert outcome_code(await client(http, "other-key").fetch(refs(ids)[0])) == "refreshed"
