"""Rate limits per API key and per organization, shared by every API process through Redis.

GCRA (the generic cell rate algorithm): one number per bucket, the "theoretical arrival
time" of the next request. A request is allowed while that time is no more than the burst
ahead of now, and pushes it one emission interval further. A request counts against two
buckets, its key's and its organization's (so more keys do not buy more budget): it is
allowed only when both allow it, and only then spends from both. Check and update are one
Lua script, so concurrent requests in any number of processes cannot both take the last
slot, and the clock is Redis's own (TIME), so processes with skewed clocks agree.
"""

import logging
import math
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS: the buckets. ARGV: per bucket, its emission interval (µs) and burst. Returns
# {allowed, the deciding bucket (1-based), remaining, µs until full again, µs until the next
# request is allowed}: when refused, the bucket that makes the caller wait longest; when
# allowed, the one with the fewest requests left.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local tats = {}
local refused = nil
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local wait = tat + interval - tolerance - now
  if wait > 0 and (refused == nil or wait > refused[5]) then
    refused = {0, i, 0, tat - now, wait}
  end
end
if refused ~= nil then return refused end
local result = nil
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = interval * tonumber(ARGV[2 * i])
  local new_tat = tats[i] + interval
  redis.call('SET', KEYS[i], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
  local remaining = math.floor((now + tolerance - new_tat) / interval)
  if result == nil or remaining < result[3] then
    result = {1, i, remaining, new_tat - now, 0}
  end
end
return result
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
    # Whose budget decided: "key" or "organization".
    scope: str = "key"

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


@dataclass(frozen=True)
class _Bucket:
    scope: str
    interval_us: int
    burst: int


def _bucket(scope: str, per_second: float, burst: int) -> _Bucket:
    return _Bucket(scope, max(1, round(1_000_000 / per_second)), burst)


class RateLimiter:
    def __init__(
        self,
        redis: Redis,
        per_second: float,
        burst: int,
        org_per_second: float | None = None,
        org_burst: int | None = None,
    ) -> None:
        self._script = redis.register_script(_GCRA)
        self._key = _bucket("key", per_second, burst)
        self._org = (
            _bucket("organization", org_per_second, org_burst)
            if org_per_second is not None and org_burst is not None
            else None
        )
        self._skip_until = 0.0

    async def hit(self, key_hash: str, organization_id: uuid.UUID | None = None) -> Decision | None:
        """Counts one request for the key (by its hash: the raw key never reaches Redis) and,
        when given, its organization. None when the limit could not be checked."""
        if time.monotonic() < self._skip_until:
            return None
        buckets = [(f"ratelimit:{key_hash}", self._key)]
        if organization_id is not None and self._org is not None:
            buckets.append((f"ratelimit:org:{organization_id}", self._org))
        try:
            allowed, index, remaining, reset_us, retry_us = await self._script(
                keys=[name for name, _ in buckets],
                args=[n for _, b in buckets for n in (b.interval_us, b.burst)],
            )
        except (RedisError, OSError, TimeoutError) as exc:
            # Fail open: with Redis down, refusing every request would turn a degraded
            # limiter into a full outage for every tenant; the limit returns with Redis.
            self._skip_until = time.monotonic() + _OUTAGE_BACKOFF_SECONDS
            log.warning("rate limit not enforced, Redis unavailable: %s", type(exc).__name__)
            return None
        deciding = buckets[int(index) - 1][1]
        return Decision(
            allowed=bool(allowed),
            limit=deciding.burst,
            remaining=int(remaining),
            reset_seconds=math.ceil(int(reset_us) / 1_000_000),
            retry_after_seconds=max(1, math.ceil(int(retry_us) / 1_000_000)),
            scope=deciding.scope,
        )
