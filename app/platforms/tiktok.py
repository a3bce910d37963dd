"""TikTok: the primary provider first, the backup when the primary cannot give a usable
answer, and a circuit breaker so a primary that is down costs nothing per video.

The backup is asked when:
- the primary's retries are spent (upstream failures, rate limits),
- the primary's quota is spent (tikwm's daily "Free Api Limit"): at once, without retrying,
  and the breaker opens for `quota_cooldown_seconds` so the next videos skip the primary
  until then (one trial request after that, as after any opening),
- the primary says "not found" (it cannot tell deleted from private from a glitch, so the
  backup's answer is the one that counts),
- the primary rejects our key,
- the breaker is open.
Whatever the backup then answers is the result, so a video is never marked deleted on the
primary's word alone.
"""

import logging
from functools import partial

from app.domain.enums import Platform, StatsSource
from app.platforms import metrics
from app.platforms.breaker import BreakerState, CircuitBreaker
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, Provider, VideoRef
from app.platforms.retry import Retrier

log = logging.getLogger(__name__)

# Answers that say the primary is not working, as opposed to answering about the video.
_PRIMARY_FAILURES = frozenset(
    {FetchErrorKind.UPSTREAM, FetchErrorKind.RATE_LIMITED, FetchErrorKind.AUTH}
)


class TikTokClient:
    platform = Platform.TIKTOK

    def __init__(
        self,
        primary: Provider,
        backup: Provider,
        retrier: Retrier,
        breaker: CircuitBreaker,
        *,
        quota_cooldown_seconds: float = 900.0,
    ) -> None:
        self._primary = primary
        self._backup = backup
        self._retrier = retrier
        self.breaker = breaker
        self._quota_cooldown = quota_cooldown_seconds

    async def fetch(self, video: VideoRef) -> FetchResult:
        deadline = self._retrier.deadline()
        if self.breaker.allow():
            result = await self._retrier.run(
                partial(self._ask_primary, video),
                source=StatsSource.PRIMARY,
                deadline=deadline,
                give_up=self._primary_is_down,
            )
            if not isinstance(result, FetchError):
                return metrics.observe_fetch(result)
            reason = metrics.fallback_after(result.kind)
        else:
            reason = metrics.FALLBACK_BREAKER_OPEN
        metrics.FALLBACKS.labels(reason).inc()
        log.debug("asking the TikTok backup for %s (%s)", video.post_id, reason)
        result = await self._retrier.run(
            partial(self._backup.fetch, video), source=StatsSource.BACKUP, deadline=deadline
        )
        return metrics.observe_fetch(result)

    async def _ask_primary(self, video: VideoRef) -> FetchResult:
        try:
            result = await self._primary.fetch(video)
        except BaseException:
            # Timed out or cancelled: a failure, and it must release a half-open trial.
            self.breaker.record_failure()
            raise
        if isinstance(result, FetchError) and result.kind is FetchErrorKind.QUOTA_EXHAUSTED:
            self.breaker.trip(self._quota_cooldown)
        elif isinstance(result, FetchError) and result.kind in _PRIMARY_FAILURES:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        return result

    def _primary_is_down(self) -> bool:
        return self.breaker.state is not BreakerState.CLOSED
