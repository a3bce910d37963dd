"""One delivery attempt's result, and when to try again after a failed one."""

from collections.abc import Callable
from dataclasses import dataclass

from app.settings import Settings


@dataclass(frozen=True)
class Result:
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_delay(
    settings: Settings, attempts: int, result: Result, rand: Callable[[], float]
) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None when the
    schedule is exhausted. Jitter spreads retries of many deliveries that failed together;
    a Retry-After (429, 503) longer than the step is honoured, up to its cap."""
    schedule = settings.webhook_retry_schedule_seconds
    if attempts > len(schedule):
        return None
    step = schedule[attempts - 1]
    delay = step * (1 + settings.webhook_retry_jitter * (2 * rand() - 1))
    if result.status_code in (429, 503) and result.retry_after is not None:
        delay = max(delay, min(result.retry_after, settings.webhook_retry_after_cap_seconds))
    return delay
