"""Provider pacing that holds for the whole deployment, however many worker processes run:
the state lives in Redis and Redis's clock decides, so no two processes need to agree on
time. Both pacers wait by sleeping exactly as long as Redis says, not by polling."""

import asyncio
import itertools
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
# delete it, or, when the holder has another batch to run (ARGV[3], its next token), keep
# the gate under that token: one round trip between batches instead of a leave and an enter.
# Returns 1 when handed over to the next token.
_LEAVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], 'pause', 'PX', ARGV[2])
  return 0
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return 1
end
redis.call('DEL', KEYS[1])
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
    `async with gate.turns() as turns:` around a run of batches, and `async with
    turns.batch():` around each batch."""

    def __init__(
        self, redis: Redis, key: str, pause_seconds: float, hold_timeout_seconds: float = 120.0
    ) -> None:
        self._key = key
        self._pause_ms = round(pause_seconds * 1000)
        self._hold_ms = round(hold_timeout_seconds * 1000)
        self._enter = redis.register_script(_ENTER)
        self._leave = redis.register_script(_LEAVE)
        self._tokens = (f"{secrets.token_hex(6)}:{n}" for n in itertools.count())

    @asynccontextmanager
    async def turns(self) -> AsyncIterator["Turns"]:
        turns = Turns(self)
        try:
            yield turns
        finally:
            await turns.end()

    async def _acquire(self) -> str:
        token = next(self._tokens)
        while True:
            wait_ms = int(await self._enter(keys=[self._key], args=[token, self._hold_ms]))
            if wait_ms == 0:
                return token
            await asyncio.sleep(_IN_FLIGHT_POLL_SECONDS if wait_ms < 0 else wait_ms / 1000)

    async def _release(self, token: str, *, keep: bool) -> str | None:
        """Leave after a batch; with `keep` and no pause, hold on under a new token (returned)."""
        following = next(self._tokens) if keep and self._pause_ms == 0 else ""
        args: list[str | int] = [token, self._pause_ms, following, self._hold_ms]
        kept = int(await self._leave(keys=[self._key], args=args))
        return following if kept else None


class Turns:
    """One caller's run of batches through a `BatchGate`. Between two batches of the same
    run, a gate with no pause is kept rather than left and entered again; the run's end
    leaves it. Not shared between tasks: a run is one sequence of batches."""

    def __init__(self, gate: BatchGate) -> None:
        self._gate = gate
        self._held: str | None = None

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        token = self._held or await self._gate._acquire()
        self._held = None
        finished = False
        try:
            yield
            finished = True
        finally:
            # A failed or cancelled batch always leaves: the run is over.
            self._held = await self._gate._release(token, keep=finished)

    async def end(self) -> None:
        if self._held is not None:
            await self._gate._release(self._held, keep=False)
            self._held = None


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
