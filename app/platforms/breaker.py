"""A circuit breaker for the TikTok primary: after N failures in a row, stop asking it for a
cool-down (everything goes to the backup), then let one request through to see whether it
has recovered.

State lives in this process only; each worker process learns on its own, which costs at most
N failed requests per process.
"""

import logging
import time
from collections.abc import Callable
from enum import IntEnum

log = logging.getLogger(__name__)


class BreakerState(IntEnum):
    # Values are what the `viewledger_breaker_state` gauge shows.
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        failure_threshold: int,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._open_for = cooldown_seconds  # this opening's cool-down (longer after `trip`)
        self._probing = False  # a half-open trial request is in flight

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._open_for:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """May a request go to the protected provider now? Half-open lets exactly one through
        until its result is recorded."""
        state = self.state
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            log.info("%s: circuit half-open, trying one request", self.name)
            return True
        return state is BreakerState.CLOSED

    def record_success(self) -> None:
        if self._opened_at is not None:
            log.warning("%s: circuit closed, provider answering again", self.name)
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._opened_at is not None or self._failures >= self._threshold:
            # A failed trial (or a late failure while open) restarts the cool-down.
            if self._opened_at is None or self._probing:
                log.warning(
                    "%s: circuit open for %gs after %d failures in a row",
                    self.name,
                    self._cooldown,
                    self._failures,
                )
            self._opened_at = self._clock()
            self._open_for = self._cooldown
            self._probing = False

    def trip(self, seconds: float) -> None:
        """Open now, for `seconds` (at least the normal cool-down), whatever the count: the
        provider said it will not serve us for a while (a spent quota)."""
        seconds = max(seconds, self._cooldown)
        if self._opened_at is None or self._probing:
            log.warning(
                "%s: circuit open for %gs: the provider's quota is spent", self.name, seconds
            )
        self._failures += 1
        self._opened_at = self._clock()
        self._open_for = seconds
        self._probing = False
