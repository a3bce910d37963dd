"""The one retry policy every provider call goes through, and the client for platforms that
have a single provider (Instagram).

Only transient errors are retried (`FetchError.transient`: upstream failures and rate
limits), a bounded number of times, with jittered exponential backoff; a provider's
Retry-After replaces the backoff, up to a cap. Every attempt is bounded in time, and one
deadline covers everything done for one video, fallbacks included.
"""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import cast

from tenacity import AsyncRetrying, RetryCallState, retry_if_result

from app.domain.enums import Platform, StatsSource
from app.platforms import metrics
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, Provider, VideoRef
from app.settings import Settings

log = logging.getLogger(__name__)

Attempt = Callable[[], Awaitable[FetchResult]]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
# Awaited before a request; what it returns, if anything, is called once the request's answer
# (or its failure) arrived: a pacer that times its pause from the answer (Instagram). That
# call returns what to await for the pause to start, if anything.
Answered = Callable[[], Awaitable[None] | None]
Pace = Callable[[], Awaitable[Answered | None]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    retry_after_cap_seconds: float = 30.0
    # Per attempt, on top of httpx's timeouts: those are per phase (a server trickling bytes
    # never trips the read timeout) and in-process ASGI transports ignore them.
    attempt_timeout_seconds: float = 10.0
    deadline_seconds: float = 45.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "RetryPolicy":
        return cls(
            max_attempts=settings.provider_max_attempts,
            backoff_base_seconds=settings.provider_backoff_base_seconds,
            backoff_max_seconds=settings.provider_backoff_max_seconds,
            retry_after_cap_seconds=settings.provider_retry_after_cap_seconds,
            attempt_timeout_seconds=settings.http_timeout_seconds,
            deadline_seconds=settings.provider_deadline_seconds,
        )

    def backoff(self, attempt_number: int, jitter: float) -> float:
        """Equal jitter: half the exponential step is fixed, so a retry never comes
        right back; half is random (jitter in [0, 1]), so a batch does not retry in step."""
        step = min(
            self.backoff_max_seconds, self.backoff_base_seconds * 2.0 ** (attempt_number - 1)
        )
        return step / 2 + step / 2 * jitter


def _is_transient(result: FetchResult) -> bool:
    return isinstance(result, FetchError) and result.transient


def _never() -> bool:
    return False


class Retrier:
    """Runs a provider's attempts under a `RetryPolicy`. Sleep, clock and jitter are
    injectable so tests can check every delay without waiting for it."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        jitter: Callable[[], float] = random.random,
        pace: Pace | None = None,
    ) -> None:
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        # Called before every request, retries included: a cross-process pacer for
        # providers whose limits are about request spacing (Instagram).
        self._pace = pace

    def deadline(self) -> float:
        """The deadline for a video whose fetch starts now, on this retrier's clock."""
        return self._clock() + self.policy.deadline_seconds

    async def run(
        self,
        attempt: Attempt,
        *,
        source: StatsSource,
        deadline: float,
        give_up: Callable[[], bool] = _never,
    ) -> FetchResult:
        """The last attempt's result. `give_up` is asked before each retry (the TikTok
        breaker uses it to stop hammering a primary it has just declared down)."""
        # Nearly every fetch succeeds at once: that attempt costs no retry machinery. Only a
        # transient failure enters tenacity, which is handed the first result as attempt 1.
        first = await self._bounded(attempt, source, deadline)
        if not _is_transient(first):
            return first
        results = [first]

        async def again() -> FetchResult:
            return results.pop() if results else await self._bounded(attempt, source, deadline)

        def stop(state: RetryCallState) -> bool:
            return (
                state.attempt_number >= self.policy.max_attempts
                or self._clock() + (state.upcoming_sleep or 0.0) >= deadline
                or give_up()
            )

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop,
            wait=self._wait,
            retry=retry_if_result(_is_transient),
            before_sleep=_log_retry,
            retry_error_callback=_last_result,
        )
        return cast(FetchResult, await retrying(again))

    async def _bounded(self, attempt: Attempt, source: StatsSource, deadline: float) -> FetchResult:
        answered = await self._pace() if self._pace is not None else None
        try:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return FetchError(FetchErrorKind.UPSTREAM, "deadline passed before asking", source)
            limit = min(self.policy.attempt_timeout_seconds, remaining)
            started = time.perf_counter()
            result: FetchResult
            try:
                async with asyncio.timeout(limit):
                    result = await attempt()
            except TimeoutError:
                result = FetchError(FetchErrorKind.UPSTREAM, f"no answer within {limit:g}s", source)
            metrics.observe_request(result, time.perf_counter() - started)
            return result
        finally:
            if answered is not None and (pausing := answered()) is not None:
                # Shielded: a cancelled fetch still starts the pause its request is owed.
                await asyncio.shield(pausing)

    def _wait(self, state: RetryCallState) -> float:
        result = _last_result(state)
        if isinstance(result, FetchError) and result.retry_after is not None:
            return min(result.retry_after, self.policy.retry_after_cap_seconds)
        return self.policy.backoff(state.attempt_number, self._jitter())


def _last_result(state: RetryCallState) -> FetchResult:
    assert state.outcome is not None  # tenacity only asks after an attempt
    return cast(FetchResult, state.outcome.result())


def _log_retry(state: RetryCallState) -> None:
    result = _last_result(state)
    if isinstance(result, FetchError):
        log.info(
            "retrying %s in %.2fs after attempt %d: %s %s",
            result.source,
            state.upcoming_sleep,
            state.attempt_number,
            result.kind,
            result.message,
        )


class RetryingClient:
    """A platform served by one provider: its answer, retried under the policy."""

    def __init__(self, platform: Platform, provider: Provider, retrier: Retrier) -> None:
        self._platform = platform
        self._provider = provider
        self._retrier = retrier

    @property
    def platform(self) -> Platform:
        return self._platform

    async def fetch(self, video: VideoRef) -> FetchResult:
        result = await self._retrier.run(
            partial(self._provider.fetch, video),
            source=self._provider.source,
            deadline=self._retrier.deadline(),
        )
        return metrics.observe_fetch(result)
