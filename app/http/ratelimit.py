"""Rate limits per API key, shared by every API process through Redis.

GCRA (the generic cell rate algorithm): one number per key, the "theoretical arrival time"
of the next request. A request is allowed while that time is no more than the burst ahead of
now, and pushes it one emission interval further. Check and update are one Lua script, so
concurrent requests in any number of processes cannot both take the last slot, and the clock
is Redis's own (TIME), so processes with skewed clocks agree.
"""

import logging
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1]: the key's bucket. ARGV: emission interval (µs), burst. Returns
# {allowed, remaining, µs until full again, µs until the next request is allowed}.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - tolerance > now then
  return {0, 0, tat - now, new_tat - tolerance - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now + tolerance - new_tat) / interval), new_tat - now, 0}
"""

# While Redis is unreachable, stop asking it for this long (each try could wait for the
# socket timeout) and let requests through.
_OUTAGE_BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimiter:
    def __init__(self, redis: Redis, per_second: float, burst: int) -> None:
        self._script = redis.register_script(_GCRA)
        self._interval_us = max(1, round(1_000_000 / per_second))
        self._burst = burst
        self._skip_until = 0.0

    async def hit(self, key_hash: str) -> Decision | None:
        """Counts one request for the key (by its hash: the raw key never reaches Redis).
        None when the limit could not be checked."""
        if time.monotonic() < self._skip_until:
            return None
        try:
            allowed, remaining, reset_us, retry_us = await self._script(
                keys=[f"ratelimit:{key_hash}"], args=[self._interval_us, self._burst]
            )
        except (RedisError, OSError, TimeoutError) as exc:
            # Fail open: with Redis down, refusing every request would turn a degraded
            # limiter into a full outage for every tenant; the limit returns with Redis.
            self._skip_until = time.monotonic() + _OUTAGE_BACKOFF_SECONDS
            log.warning("rate limit not enforced, Redis unavailable: %s", type(exc).__name__)
            return None
        return Decision(
            allowed=bool(allowed),
            limit=self._burst,
            remaining=int(remaining),
            reset_seconds=math.ceil(int(reset_us) / 1_000_000),
            retry_after_seconds=max(1, math.ceil(int(retry_us) / 1_000_000)),
        )
