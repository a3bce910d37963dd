"""Provider pacing that holds for the whole deployment, however many worker processes run:
the state lives in Redis and Redis's clock decides, so no two processes need to agree on
time. A pause is timed from when the previous answer arrived, so the provider sees it
whatever its latency. Waiters sleep exactly as long as Redis says a pause lasts, and look
again every few ms while a request or batch is in flight."""

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from app.platforms.retry import Answered

# A pause is kept to the µs: its key's value is `pause:<end>`, the end in µs of Redis's clock
# (TIME), and its key outlives that end (PX is whole ms, rounded up, and one more). Kept in
# whole ms, it was rounded twice on the safe side (the answer's age down, PTTL from Redis's
# ms clock) before epoll's timeout rounded the sleep up once more: a TikTok batch started
# ~1.5 ms past its pause (issue 24 item 2). Only epoll's rounding is left.
_NOW_US = "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000000 + tonumber(t[2])"

# Enter: SET NX with a hold timeout (a crashed holder cannot block the gate for longer).
# Returns 0 when entered. During a pause, the caller takes the gate at once, reserved from the
# pause's end (KEYS[3] lives as long as the pause), and is told the µs left (> 0): it sleeps
# them out and starts with no second round trip, so nothing but the pause lies between the
# previous batch's end and its start. A reservation is held only a margin past the pause
# (ARGV[4], ms) until its batch starts and extends it, so a caller that dies asleep blocks
# the gate little longer than the pause. Else, -1 while a batch is in flight, or -(1 + ms)
# while another caller's reservation waits out its pause. A caller turned away marks that it
# waits (KEYS[2], alive for a few polls), so a holder that keeps the gate across batches
# gives way.
_ENTER = (
    """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
local held = redis.call('GET', KEYS[1])
if string.sub(held, 1, 6) == 'pause:' then
  """
    + _NOW_US
    + """
  local left = math.max(tonumber(string.sub(held, 7)) - now, 1)
  local ms = math.ceil(left / 1000)
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ms + tonumber(ARGV[4]))
  redis.call('SET', KEYS[3], '1', 'PX', ms)
  return left
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
local reserved = redis.call('PTTL', KEYS[3])
if reserved > 0 then
  return -1 - reserved
end
return -1
"""
)
# Leave: only the holder may turn the key into the pause after its batch (ARGV[2]: the µs of
# it still to come); with none left, delete it.
_LEAVE = (
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  local left = tonumber(ARGV[2])
  if left > 0 then
    """
    + _NOW_US
    + """
    local value = 'pause:' .. string.format('%.0f', now + left)
    return redis.call('SET', KEYS[1], value, 'PX', math.ceil(left / 1000) + 1)
  end
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)
# Extend: the holder of a reservation, its batch starting, holds the gate for a whole batch.
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# Renew: the holder extends its hold. Returns 1; 0 when the gate is no longer its own; -1
# when another caller waits for it (the holder then leaves and takes its turn again).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
# How often a waiter looks again while another batch is in flight (its end is not known;
# the pause that follows it is, and is slept exactly).
_IN_FLIGHT_POLL_SECONDS = 0.005
# How long a waiter's mark lasts: a few polls, so it is gone soon after the waiter is.
_WAITING_MS = 50


class BatchGate:
    """One batch at a time across the deployment, with `pause_seconds` between the end of one
    batch and the start of the next (TikTok: batches of 10, 0.5 s apart). Use as
    `async with gate.turns() as turns:` around a run of batches, and `async with
    turns.batch() as batch:` around each batch, calling `batch.answered()` as its answers
    arrive.

    The gate is held for the longest a batch can take plus a margin, so a crashed holder
    blocks it no longer than that; a caller that reserved it during a pause and died before
    its batch, no longer than the pause plus the margin."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        pause_seconds: float,
        longest_batch_seconds: float = 115.0,
        hold_margin_seconds: float = 5.0,
    ) -> None:
        self._key = key
        self._waiting = f"{key}:waiting"
        self._reserved = f"{key}:reserved"
        self._margin_ms = round(hold_margin_seconds * 1000)
        self.pause_ms = round(pause_seconds * 1000)
        # The pause left to Redis, to the µs; none when `pause_ms` (what callers check) is 0.
        self._pause_us = round(pause_seconds * 1_000_000) if self.pause_ms else 0
        self._hold_ms = round((longest_batch_seconds + hold_margin_seconds) * 1000)
        # A batch that starts within this of the hold's last renewal ends before it runs out.
        self.renew_after = hold_margin_seconds / 2
        self._enter = redis.register_script(_ENTER)
        self._leave = redis.register_script(_LEAVE)
        self._renew = redis.register_script(_RENEW)
        self._extend = redis.register_script(_EXTEND)
        self._extending: set[asyncio.Task[object]] = set()
        self._tokens = (f"{secrets.token_hex(6)}:{n}" for n in itertools.count())

    @asynccontextmanager
    async def turns(self) -> AsyncIterator["Turns"]:
        turns = Turns(self)
        try:
            yield turns
        finally:
            await turns.end()

    async def acquire(self) -> str:
        token = next(self._tokens)
        keys = [self._key, self._waiting, self._reserved]
        args = [token, str(self._hold_ms), str(_WAITING_MS), str(self._margin_ms)]
        while True:
            answer = int(await self._enter(keys=keys, args=args))
            if answer == 0:
                return token
            if answer > 0:  # the gate is ours from the end of the pause: sleep it out
                try:
                    await asyncio.sleep(answer / 1_000_000)
                except BaseException:
                    await asyncio.shield(self.release(token))
                    raise
                # Held for the whole batch from now on; the batch does not wait for it.
                task = asyncio.create_task(
                    self._extend(keys=[self._key], args=[token, self._hold_ms])
                )
                self._extending.add(task)
                task.add_done_callback(self._extended)
                return token
            await asyncio.sleep(_IN_FLIGHT_POLL_SECONDS if answer == -1 else (-answer - 1) / 1000)

    def _extended(self, task: "asyncio.Task[object]") -> None:
        self._extending.discard(task)
        if not task.cancelled():
            task.exception()  # a lost extension only shortens the hold: the margin still holds

    async def renew(self, token: str) -> int:
        """1: renewed; 0: the gate is gone; -1: someone waits for it."""
        keys = [self._key, self._waiting]
        return int(await self._renew(keys=keys, args=[token, self._hold_ms]))

    async def release(self, token: str, paused_us: int = 0) -> None:
        """Leave the gate to its pause, less `paused_us` already waited since the batch's last
        answer (none left: the gate is free at once)."""
        await self._leave(keys=[self._key], args=[token, self._pause_us - paused_us])


class Turns:
    """One caller's run of batches through a `BatchGate`. A gate with no pause is kept from
    one batch of the run to the next, with no round trip to Redis but a renewal now and
    then; at a renewal that finds another caller waiting, and at the run's end or a failed
    batch, it is left. With a pause, every batch leaves, so the pause follows each one. A run
    is one sequence: tasks that share one take turns (`Spacer`)."""

    def __init__(self, gate: BatchGate) -> None:
        self._gate = gate
        self._held: str | None = None
        self._renewed = 0.0  # loop time the hold was last set

    @asynccontextmanager
    async def batch(self) -> AsyncIterator["Batch"]:
        token, batch = await self.enter()
        finished = False
        try:
            yield batch
            finished = True
        finally:
            if (leaving := self.leave(token, batch, finished=finished)) is not None:
                await leaving

    async def enter(self) -> tuple[str, "Batch"]:
        """A batch's start: the gate's token and the batch, for `leave` at its end (`batch()`
        does both around its body)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._held is not None and now - self._renewed > self._gate.renew_after:
            renewed = await self._gate.renew(self._held)
            if renewed == 1:
                self._renewed = now
            else:
                if renewed < 0:  # another caller waits: leave, and let it in first
                    await self._gate.release(self._held)
                    await asyncio.sleep(2 * _IN_FLIGHT_POLL_SECONDS)
                self._held = None
        if self._held is None:
            # Taken before asking: the hold was set no earlier, so this errs on the safe side.
            self._renewed = loop.time()
            self._held = await self._gate.acquire()
        return self._held, Batch()

    def leave(self, token: str, batch: "Batch", *, finished: bool) -> Awaitable[None] | None:
        """A batch's end: the gate left to its pause (what to await), or kept for the next
        batch of the run (None: nothing to wait for)."""
        if finished and self._gate.pause_ms == 0:
            return None
        self._held = None
        return self._gate.release(token, batch.us_since_last_answer())

    async def end(self) -> None:
        if self._held is not None:
            token, self._held = self._held, None
            await self._gate.release(token)


class Batch:
    """A batch in flight. Its caller calls `answered()` as each answer (or failure) arrives:
    the pause that follows is timed from the last one, as the provider sees it, rather than
    from when the caller is done with the answers (parsing them, the gate's own round trip:
    issue 24 item 2). A caller that never calls it has the pause timed from its leaving."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: float | None = None

    def answered(self) -> None:
        self._last = time.monotonic()

    def us_since_last_answer(self) -> int:
        if self._last is None:
            return 0
        return int((time.monotonic() - self._last) * 1_000_000)  # rounded down: never too short


UNPACED = Batch()  # what a lane without a gate hands its batches: answers noted, never read


class Spacer:
    """One request of a provider in flight at a time across the deployment, and the next one
    leaving at least `spacing_seconds` after the previous one's answer (or its failure)
    arrived (Instagram: 3 s), as the provider sees it whatever its latency: a `BatchGate` whose
    batches are single requests. Awaited before every request, retries included; what it
    returns is called when the answer arrived, and starts the pause (what that call returns,
    if anything, is awaited: nothing inside a run).

    Inside `async with spacer.run():` a spacer with no spacing keeps the gate from one
    request to the next, as `Turns` keep a gate without pause between batches: two round
    trips to Redis a request fewer, and another process that waits for the gate is let in at
    the next renewal. The process's own requests (its refresher's, its lister's) then take
    turns on a lock, so one is in flight at a time across the deployment still."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        spacing_seconds: float,
        longest_request_seconds: float = 115.0,
        hold_margin_seconds: float = 5.0,
    ) -> None:
        self._gate = BatchGate(
            redis, key, spacing_seconds, longest_request_seconds, hold_margin_seconds
        )
        self._kept: Turns | None = None
        self._one_at_a_time = asyncio.Lock()

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Requests that keep the gate between them when there is no spacing (see above);
        with a spacing, or inside another run, nothing changes."""
        if self._gate.pause_ms > 0 or self._kept is not None:
            yield
            return
        self._kept = turns = Turns(self._gate)
        try:
            yield
        finally:
            await asyncio.shield(self._end(turns))

    async def _end(self, turns: "Turns") -> None:
        async with self._one_at_a_time:  # once the run's last request is answered
            self._kept = None
            await turns.end()

    async def __call__(self) -> Answered:
        if self._kept is not None:
            await self._one_at_a_time.acquire()
            if self._kept is not None:  # the run did not end while this waited its turn
                return await self._in_run(self._kept)
            self._one_at_a_time.release()
        token = await self._gate.acquire()

        def answered() -> Awaitable[None]:
            return self._gate.release(token)

        return answered

    async def _in_run(self, turns: "Turns") -> Answered:
        """A request of the run, this process's turn held: a batch of one, entered here and
        left at its answer (a request that failed is an answer too: the gate stays kept).
        Leaving a run's batch waits for nothing, so the answer costs no turn of the event
        loop: an awaited ending (the retrier shields it, a task each time) held the
        Instagram lane to a few posts a turn of a loop busy with other lanes, ~150 posts/s
        beside TikTok's ~850 in the pipeline benchmark (issue 24)."""
        try:
            token, batch = await turns.enter()
        except BaseException:
            self._one_at_a_time.release()
            raise

        def answered_in_run() -> Awaitable[None] | None:
            try:
                return turns.leave(token, batch, finished=True)
            finally:
                self._one_at_a_time.release()

        return answered_in_run
