"""The shared retry policy: what is retried, how often, how long it waits, and when it
stops. Sleeps go to a fake clock, so delays are asserted exactly and nothing waits."""

from datetime import UTC, datetime

import httpx
import pytest

from app.domain.enums import Platform
from app.platforms.contract import FetchError, FetchErrorKind, VideoRef, VideoStats
from app.platforms.http import retry_after_seconds
from app.platforms.instagram import InstagramProvider
from app.platforms.retry import Retrier, RetryingClient, RetryPolicy
from app.platforms.sandbox import Magic, Sandbox, instagram_shortcode
from app.settings import Settings
from tests.platforms.conftest import SANDBOX_URL, FakeTime

POLICY = RetryPolicy(
    max_attempts=3,
    backoff_base_seconds=0.5,
    backoff_max_seconds=8.0,
    retry_after_cap_seconds=30.0,
    attempt_timeout_seconds=1.0,
    deadline_seconds=45.0,
)


def instagram_client(
    http: httpx.AsyncClient,
    fake_time: FakeTime,
    policy: RetryPolicy = POLICY,
    jitter: float = 1.0,
) -> RetryingClient:
    retrier = Retrier(
        policy, sleep=fake_time.sleep, clock=fake_time.monotonic, jitter=lambda: jitter
    )
    return RetryingClient(Platform.INSTAGRAM, InstagramProvider(http, SANDBOX_URL, None), retrier)


def post(magic: Magic | None = None, variant: int = 0) -> VideoRef:
    shortcode = instagram_shortcode(magic, variant) if magic else "DF5s0duxDts"
    return VideoRef(Platform.INSTAGRAM, shortcode)


def requests_for(sandbox: Sandbox, ref: VideoRef) -> int:
    return sum(1 for r in sandbox.requests if r.video_id == ref.post_id)


async def test_success_is_one_request(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    ref = post()
    assert isinstance(await instagram_client(http, fake_time).fetch(ref), VideoStats)
    assert requests_for(sandbox, ref) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("jitter", "delays"),
    [(1.0, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]), (0.0, [0.25, 0.5, 1.0, 2.0, 4.0, 4.0])],
)
async def test_transient_errors_retry_with_capped_exponential_backoff(
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    fake_time: FakeTime,
    jitter: float,
    delays: list[float],
) -> None:
    policy = RetryPolicy(max_attempts=7, backoff_base_seconds=0.5, backoff_max_seconds=8.0)
    ref = post(Magic.SERVER_ERROR)
    result = await instagram_client(http, fake_time, policy, jitter).fetch(ref)
    assert isinstance(result, FetchError)
    assert result.kind is FetchErrorKind.UPSTREAM
    assert requests_for(sandbox, ref) == 7
    assert fake_time.sleeps == delays


def test_jitter_spreads_within_the_step() -> None:
    step = POLICY.backoff(3, 0.0), POLICY.backoff(3, 0.5), POLICY.backoff(3, 1.0)
    assert step == (1.0, 1.5, 2.0)


@pytest.mark.parametrize("magic", [Magic.DELETED, Magic.CAROUSEL])
async def test_answers_about_the_video_are_not_retried(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime, magic: Magic
) -> None:
    ref = post(magic)
    await instagram_client(http, fake_time).fetch(ref)
    assert requests_for(sandbox, ref) == 1


async def test_auth_errors_are_not_retried(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    retrier = Retrier(POLICY, sleep=fake_time.sleep, clock=fake_time.monotonic)
    client = RetryingClient(
        Platform.INSTAGRAM, InstagramProvider(http, SANDBOX_URL, "bad-key"), retrier
    )
    result = await client.fetch(post())
    assert isinstance(result, FetchError)
    assert result.kind is FetchErrorKind.AUTH
    assert len(sandbox.requests) == 1


async def test_flaky_provider_succeeds_on_the_last_attempt(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    ref = post(Magic.FLAKY)
    assert isinstance(await instagram_client(http, fake_time).fetch(ref), VideoStats)
    assert requests_for(sandbox, ref) == 3
    assert len(fake_time.sleeps) == 2


async def test_retry_after_replaces_backoff(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    ref = post(Magic.RATE_LIMITED)
    result = await instagram_client(http, fake_time).fetch(ref)
    assert isinstance(result, FetchError)
    assert (result.kind, result.retry_after) == (FetchErrorKind.RATE_LIMITED, 2.0)
    assert requests_for(sandbox, ref) == 3
    assert fake_time.sleeps == [2.0, 2.0]


async def test_retry_after_is_capped(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    sandbox.retry_after_seconds = 600
    policy = RetryPolicy(retry_after_cap_seconds=5.0, deadline_seconds=100.0)
    await instagram_client(http, fake_time, policy).fetch(post(Magic.RATE_LIMITED))
    assert fake_time.sleeps == [5.0, 5.0]


async def test_require_login_is_retried_like_a_rate_limit(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    ref = post(Magic.LOGIN_REQUIRED)
    result = await instagram_client(http, fake_time).fetch(ref)
    assert isinstance(result, FetchError)
    assert result.kind is FetchErrorKind.RATE_LIMITED
    assert requests_for(sandbox, ref) == 3


async def test_no_sleep_reaches_past_the_deadline(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    # Retry-After of 2 s each time; a 5 s deadline leaves room for exactly two waits.
    policy = RetryPolicy(max_attempts=10, deadline_seconds=5.0)
    ref = post(Magic.RATE_LIMITED)
    await instagram_client(http, fake_time, policy).fetch(ref)
    assert fake_time.sleeps == [2.0, 2.0]
    assert requests_for(sandbox, ref) == 3


async def test_slow_answers_time_out_per_attempt(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    policy = RetryPolicy(max_attempts=2, attempt_timeout_seconds=0.05)
    ref = post(Magic.SLOW)
    result = await instagram_client(http, fake_time, policy).fetch(ref)
    assert isinstance(result, FetchError)
    assert result.kind is FetchErrorKind.UPSTREAM
    assert result.message == "no answer within 0.05s"
    assert requests_for(sandbox, ref) == 2


async def test_attempts_are_cut_at_the_deadline(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    # Real clock here: the per-attempt bound is the time left before the deadline.
    policy = RetryPolicy(max_attempts=3, attempt_timeout_seconds=10.0, deadline_seconds=0.05)
    ref = post(Magic.SLOW)
    result = await RetryingClient(
        Platform.INSTAGRAM, InstagramProvider(http, SANDBOX_URL, None), Retrier(policy)
    ).fetch(ref)
    assert isinstance(result, FetchError)
    assert result.message.startswith("no answer within 0.0")
    assert requests_for(sandbox, ref) == 1


async def test_pace_runs_before_every_request(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    paced: list[int] = []

    async def pace() -> None:
        paced.append(len(sandbox.requests))

    retrier = Retrier(POLICY, sleep=fake_time.sleep, clock=fake_time.monotonic, pace=pace)
    client = RetryingClient(Platform.INSTAGRAM, InstagramProvider(http, SANDBOX_URL, None), retrier)
    await client.fetch(post(Magic.SERVER_ERROR))
    assert paced == [0, 1, 2]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now) == seconds


def test_policy_from_settings() -> None:
    settings = Settings(
        provider_max_attempts=4,
        provider_backoff_base_seconds=0.1,
        provider_backoff_max_seconds=2.0,
        provider_retry_after_cap_seconds=9.0,
        http_timeout_seconds=3.0,
        provider_deadline_seconds=20.0,
    )
    assert RetryPolicy.from_settings(settings) == RetryPolicy(4, 0.1, 2.0, 9.0, 3.0, 20.0)
