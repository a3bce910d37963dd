"""Provider pacing that holds for the whole deployment, however many worker processes run:
the state lives in Redis and Redis's clock decides, so no two processes need to agree on
time. Both pacers wait by sleeping exactly as long as Redis says, not by polling."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

# Enter: SET NX with a hold timeout (a crashed holder cannot block the gate for longer).
# Returns 0 when entered; else the ms left of a pause, or -1 while a batch is in flight.
_ENTER = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
if redis.call('GET', KEYS[1]) == 'pause' then
  return math.max(redis.call('PTTL', KEYS[1]), 1)
end
return -1
"""
# Leave: only the holder may turn the key into the pause after its batch; with no pause,
# delete it.
_LEAVE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if tonumber(ARGV[2]) > 0 then
    return redis.call('SET', KEYS[1], 'pause', 'PX', ARGV[2])
  end
  return redis.call('DEL', KEYS[1])
end
return 0
"""
# How often a waiter looks again while another batch is in flight (its end is not known;
# the pause that follows it is, and is slept exactly).
_IN_FLIGHT_POLL_SECONDS = 0.005

# Reserve the next start: returns 0 and moves the next slot on, or the ms left to wait.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now >= nxt then
  local spacing = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], now + spacing, 'PX', spacing + 60000)
  return 0
end
return nxt - now
"""


class BatchGate:
    """One batch at a time across the deployment, with `pause_seconds` between the end of one
    batch and the start of the next (TikTok: batches of 10, 0.5 s apart). Use as
    `async with gate.batch():` around one batch."""

    def __init__(
        self, redis: Redis, key: str, pause_seconds: float, hold_timeout_seconds: float = 120.0
    ) -> None:
        self._key = key
        self._pause_ms = round(pause_seconds * 1000)
        self._hold_ms = round(hold_timeout_seconds * 1000)
        self._enter = redis.register_script(_ENTER)
        self._leave = redis.register_script(_LEAVE)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        token = secrets.token_hex(8)
        while True:
            wait_ms = int(await self._enter(keys=[self._key], args=[token, self._hold_ms]))
            if wait_ms == 0:
                break
            await asyncio.sleep(_IN_FLIGHT_POLL_SECONDS if wait_ms < 0 else wait_ms / 1000)
        try:
            yield
        finally:
            await self._leave(keys=[self._key], args=[token, self._pause_ms])


class Spacer:
    """Request starts at least `spacing_seconds` apart across the deployment (Instagram: 3 s).
    Awaited before every request, retries included."""

    def __init__(self, redis: Redis, key: str, spacing_seconds: float) -> None:
        self._key = key
        self._spacing_ms = round(spacing_seconds * 1000)
        self._reserve = redis.register_script(_RESERVE)

    async def __call__(self) -> None:
        if self._spacing_ms <= 0:
            return
        while True:
            wait_ms = int(await self._reserve(keys=[self._key], args=[self._spacing_ms]))
            if wait_ms <= 0:
                return
            await asyncio.sleep(wait_ms / 1000)
