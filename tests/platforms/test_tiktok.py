"""TikTok: primary first, the backup exactly when the rules say, and the circuit breaker."""

import asyncio

import httpx
import pytest
from prometheus_client import REGISTRY

from app.domain.enums import Platform, StatsSource
from app.platforms.breaker import BreakerState, CircuitBreaker
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, VideoRef, VideoStats
from app.platforms.retry import Retrier, RetryPolicy
from app.platforms.sandbox import Magic, Sandbox, tiktok_id
from app.platforms.tiktok import TikTokClient
from app.platforms.tiktok_backup import TikTokBackup
from app.platforms.tiktok_primary import TikTokPrimary
from tests.platforms.conftest import SANDBOX_URL, FakeTime

POLICY = RetryPolicy(max_attempts=3, backoff_base_seconds=0.5, attempt_timeout_seconds=1.0)
VIDEO = "7412345678901234567"


def client(
    http: httpx.AsyncClient,
    fake_time: FakeTime,
    *,
    threshold: int = 5,
    cooldown: float = 60.0,
    quota_cooldown: float = 900.0,
    policy: RetryPolicy = POLICY,
) -> TikTokClient:
    return TikTokClient(
        TikTokPrimary(http, SANDBOX_URL, None),
        TikTokBackup(http, SANDBOX_URL, None),
        Retrier(policy, sleep=fake_time.sleep, clock=fake_time.monotonic, jitter=lambda: 1.0),
        CircuitBreaker("tiktok_primary", threshold, cooldown, clock=fake_time.monotonic),
        quota_cooldown_seconds=quota_cooldown,
    )


def state(tiktok: TikTokClient) -> BreakerState:
    return tiktok.breaker.state  # read through a call: mypy would keep an earlier read narrowed


def ref(video_id: str = VIDEO) -> VideoRef:
    return VideoRef(Platform.TIKTOK, video_id, "someone")


def asked(sandbox: Sandbox, video_id: str | None = None) -> list[str]:
    """Which providers were asked, in order."""
    return [r.provider for r in sandbox.requests if video_id in (None, r.video_id)]


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("viewledger_fallbacks_total", {"reason": reason}) or 0.0


def source_of(result: FetchResult) -> StatsSource:
    return result.source


async def test_primary_answer_is_used_when_it_has_stats(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    result = await client(http, fake_time).fetch(ref())
    assert isinstance(result, VideoStats)
    assert result.source is StatsSource.PRIMARY
    assert asked(sandbox) == ["tiktok_primary"]


async def test_backup_after_primary_retries_are_spent(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    before = fallbacks("primary_upstream")
    video_id = tiktok_id(Magic.PRIMARY_DOWN)
    result = await client(http, fake_time).fetch(ref(video_id))
    assert isinstance(result, VideoStats)
    assert result.source is StatsSource.BACKUP
    assert asked(sandbox) == ["tiktok_primary"] * 3 + ["tiktok_backup"]
    assert fallbacks("primary_upstream") == before + 1


async def test_free_api_limit_is_retried_then_falls_back(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    result = await client(http, fake_time).fetch(ref(tiktok_id(Magic.FREE_API_LIMIT)))
    assert source_of(result) is StatsSource.BACKUP
    assert isinstance(result, VideoStats)
    assert asked(sandbox) == ["tiktok_primary"] * 3 + ["tiktok_backup"]
    assert fake_time.sleeps == [1.0, 1.0]  # "1 request/second" says how long to wait


async def test_a_spent_daily_quota_goes_to_the_backup_at_once_and_keeps_the_primary_off(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    before = fallbacks("primary_quota_exhausted")
    tiktok = client(http, fake_time, cooldown=60.0, quota_cooldown=900.0)
    result = await tiktok.fetch(ref(tiktok_id(Magic.QUOTA_EXHAUSTED)))
    assert isinstance(result, VideoStats)
    assert result.source is StatsSource.BACKUP
    assert asked(sandbox) == ["tiktok_primary", "tiktok_backup"]  # no retry of the primary
    assert fake_time.sleeps == []
    assert fallbacks("primary_quota_exhausted") == before + 1
    assert state(tiktok) is BreakerState.OPEN

    # Past the normal cool-down the primary stays off: the quota has not reset.
    fake_time.now += 600
    sandbox.requests.clear()
    assert source_of(await tiktok.fetch(ref())) is StatsSource.BACKUP
    assert asked(sandbox) == ["tiktok_backup"]

    # After the quota cool-down, one trial; a primary that answers closes the breaker.
    fake_time.now += 300
    sandbox.requests.clear()
    assert source_of(await tiktok.fetch(ref())) is StatsSource.PRIMARY
    assert asked(sandbox) == ["tiktok_primary"]
    assert state(tiktok) is BreakerState.CLOSED


async def test_withheld_and_under_review_are_not_deletions(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    tiktok = client(http, fake_time)
    withheld = await tiktok.fetch(ref(tiktok_id(Magic.WITHHELD)))
    review = await tiktok.fetch(ref(tiktok_id(Magic.UNDER_REVIEW)))
    assert withheld == FetchError(
        FetchErrorKind.WITHHELD,
        "video withheld in this region (cross_border_violation_ur)",
        StatsSource.BACKUP,
    )
    assert review == FetchError(
        FetchErrorKind.UNDER_REVIEW,
        "video under review (author_status,status_reviewing)",
        StatsSource.BACKUP,
    )
    assert asked(sandbox) == ["tiktok_primary", "tiktok_backup"] * 2
    assert fake_time.sleeps == []
    assert state(tiktok) is BreakerState.CLOSED


async def test_flaky_primary_recovers_within_its_retries(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    result = await client(http, fake_time).fetch(ref(tiktok_id(Magic.FLAKY)))
    assert source_of(result) is StatsSource.PRIMARY
    assert asked(sandbox) == ["tiktok_primary"] * 3


@pytest.mark.parametrize(
    ("magic", "kind", "message"),
    [
        (Magic.DELETED, FetchErrorKind.NOT_FOUND, "video not found or deleted"),
        (Magic.PRIVATE_POST, FetchErrorKind.PRIVATE, "video is private"),
        (Magic.PRIVATE_ACCOUNT, FetchErrorKind.PRIVATE, "account is private"),
    ],
)
async def test_primary_not_found_is_confirmed_by_the_backup_without_retrying(
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    fake_time: FakeTime,
    magic: Magic,
    kind: FetchErrorKind,
    message: str,
) -> None:
    result = await client(http, fake_time).fetch(ref(tiktok_id(magic)))
    assert result == FetchError(kind, message, StatsSource.BACKUP)
    assert asked(sandbox) == ["tiktok_primary", "tiktok_backup"]
    assert fake_time.sleeps == []


async def test_backup_answer_wins_over_primary_not_found(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    # The primary fails to parse a video the backup knows: stats, not "deleted".
    sandbox.faults.tiktok_primary = "not_found"
    result = await client(http, fake_time).fetch(ref())
    assert isinstance(result, VideoStats)
    assert result.source is StatsSource.BACKUP
    assert asked(sandbox) == ["tiktok_primary", "tiktok_backup"]


async def test_both_failing_reports_the_backup_error_after_both_retry(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    result = await client(http, fake_time).fetch(ref(tiktok_id(Magic.SERVER_ERROR)))
    assert isinstance(result, FetchError)
    assert (result.kind, result.source) == (FetchErrorKind.UPSTREAM, StatsSource.BACKUP)
    assert asked(sandbox) == ["tiktok_primary"] * 3 + ["tiktok_backup"] * 3


async def test_malformed_bodies_are_retried_on_both(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    result = await client(http, fake_time).fetch(ref(tiktok_id(Magic.MALFORMED)))
    assert isinstance(result, FetchError)
    assert result.message.startswith("malformed answer")
    assert len(asked(sandbox)) == 6


async def test_one_deadline_covers_primary_and_backup(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    # Retry-After 2 s on both; a 3 s deadline allows one wait in total.
    policy = RetryPolicy(max_attempts=3, deadline_seconds=3.0)
    result = await client(http, fake_time, policy=policy).fetch(ref(tiktok_id(Magic.RATE_LIMITED)))
    assert isinstance(result, FetchError)
    assert result.source is StatsSource.BACKUP
    assert fake_time.sleeps == [2.0]
    assert asked(sandbox) == ["tiktok_primary", "tiktok_primary", "tiktok_backup"]


async def test_slow_primary_times_out_and_the_backup_answers(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    sandbox.faults.tiktok_primary = "timeout"
    policy = RetryPolicy(max_attempts=2, attempt_timeout_seconds=0.05)
    result = await client(http, fake_time, policy=policy).fetch(ref())
    assert source_of(result) is StatsSource.BACKUP
    assert isinstance(result, VideoStats)
    assert asked(sandbox) == ["tiktok_primary", "tiktok_primary", "tiktok_backup"]


# Circuit breaker


async def test_breaker_opens_then_skips_the_primary_then_probes_and_recovers(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    tiktok = client(http, fake_time, threshold=2, cooldown=60.0)
    sandbox.faults.tiktok_primary = "500"

    # Two primary failures in a row open the breaker mid-retry: no third attempt.
    first = await tiktok.fetch(ref("7412345678901234001"))
    assert source_of(first) is StatsSource.BACKUP
    assert asked(sandbox) == ["tiktok_primary", "tiktok_primary", "tiktok_backup"]
    assert state(tiktok) is BreakerState.OPEN

    # While open, videos go straight to the backup.
    before = fallbacks("breaker_open")
    sandbox.requests.clear()
    for n in range(3):
        result = await tiktok.fetch(ref(f"741234567890123401{n}"))
        assert source_of(result) is StatsSource.BACKUP
    assert asked(sandbox) == ["tiktok_backup"] * 3
    assert fallbacks("breaker_open") == before + 3

    # After the cool-down, one trial; the primary is still down, so it opens again at once.
    fake_time.now += 60
    sandbox.requests.clear()
    await tiktok.fetch(ref("7412345678901234020"))
    assert asked(sandbox) == ["tiktok_primary", "tiktok_backup"]
    assert state(tiktok) is BreakerState.OPEN

    # The primary recovers; the next trial closes the breaker.
    sandbox.faults.tiktok_primary = None
    fake_time.now += 60
    assert state(tiktok) is BreakerState.HALF_OPEN
    sandbox.requests.clear()
    result = await tiktok.fetch(ref("7412345678901234030"))
    assert source_of(result) is StatsSource.PRIMARY
    assert asked(sandbox) == ["tiktok_primary"]
    assert state(tiktok) is BreakerState.CLOSED


async def test_half_open_sends_only_one_trial_at_a_time(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    tiktok = client(http, fake_time, threshold=1, cooldown=10.0)
    sandbox.faults.tiktok_primary = "500"
    await tiktok.fetch(ref("7412345678901234001"))
    sandbox.faults.tiktok_primary = None
    sandbox.faults.latency_ms = 20  # so the trial is still out while the others start
    fake_time.now += 10
    sandbox.requests.clear()
    results = await asyncio.gather(
        *(tiktok.fetch(ref(f"74123456789012341{n:02d}")) for n in range(5))
    )
    assert [source_of(r) for r in results].count(StatsSource.PRIMARY) == 1
    assert asked(sandbox).count("tiktok_primary") == 1
    assert state(tiktok) is BreakerState.CLOSED


async def test_not_found_answers_do_not_trip_the_breaker(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    tiktok = client(http, fake_time, threshold=2)
    for n in range(4):
        await tiktok.fetch(ref(tiktok_id(Magic.DELETED, n)))
    assert state(tiktok) is BreakerState.CLOSED


async def test_a_timed_out_trial_counts_as_a_failure(
    http: httpx.AsyncClient, sandbox: Sandbox, fake_time: FakeTime
) -> None:
    policy = RetryPolicy(max_attempts=2, attempt_timeout_seconds=0.05)
    tiktok = client(http, fake_time, threshold=1, cooldown=10.0, policy=policy)
    sandbox.faults.tiktok_primary = "timeout"
    await tiktok.fetch(ref())
    assert state(tiktok) is BreakerState.OPEN
    fake_time.now += 10
    await tiktok.fetch(ref())  # the trial times out: open again, not stuck half-open
    assert state(tiktok) is BreakerState.OPEN
    fake_time.now += 10
    assert tiktok.breaker.allow() is True
