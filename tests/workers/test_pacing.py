"""The deployment-wide gate against the real Redis: two callers, each with its own run of
batches, as two worker processes would be."""

import asyncio
import contextlib
import importlib.abc
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
import pytest
from redis.asyncio import Redis

from app.domain.enums import StatsSource
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult
from app.platforms.http import build_http_client
from app.platforms.retry import Retrier, RetryPolicy
from app.settings import Settings
from app.workers.pacing import BatchGate, Spacer
from tests.engine_kit import answer

KEY = "test:pace:gate"


async def test_a_run_keeps_a_gate_without_pause_between_its_batches(redis: Redis) -> None:
    gate = BatchGate(redis, KEY, 0)
    other = BatchGate(redis, KEY, 0)
    order: list[str] = []

    async def intruder() -> None:
        async with other.turns() as turns, turns.batch():
            order.append("other")

    async with gate.turns() as turns:
        async with turns.batch():
            order.append("first")
            waiting = asyncio.create_task(intruder())
            await asyncio.sleep(0.05)
        held = await redis.get(KEY)
        async with turns.batch():
            assert await redis.get(KEY) == held  # kept between batches, not re-taken
            order.append("second")
        assert not waiting.done()
    await asyncio.wait_for(waiting, 1)
    assert order == ["first", "second", "other"]
    assert await redis.get(KEY) is None  # the run's end left it


async def test_a_kept_gate_is_renewed_before_its_hold_runs_out(redis: Redis) -> None:
    # Held for 0.3 s (longest batch 0.1 s + margin 0.2 s), renewed after 0.1 s.
    gate = BatchGate(redis, KEY, 0, longest_batch_seconds=0.1, hold_margin_seconds=0.2)
    async with gate.turns() as turns:
        for _ in range(8):  # 0.4 s of batches, longer than one hold
            async with turns.batch():
                assert await redis.exists(KEY)
                await asyncio.sleep(0.05)


async def test_a_kept_gate_gives_way_to_a_waiting_caller(redis: Redis) -> None:
    holder = BatchGate(redis, KEY, 0, longest_batch_seconds=0.1, hold_margin_seconds=0.2)
    other = BatchGate(redis, KEY, 0, longest_batch_seconds=0.1, hold_margin_seconds=0.2)
    order: list[str] = []

    async def waiter() -> None:
        async with other.turns() as turns, turns.batch():
            order.append("other")

    async with holder.turns() as turns:
        for n in range(20):  # a long run: 20 batches of 0.02 s
            async with turns.batch():
                if n == 1:
                    waiting = asyncio.create_task(waiter())
                await asyncio.sleep(0.02)
                order.append("holder")
    await waiting
    assert "other" in order[:12], order  # let in at the holder's next renewal, not at its end


async def test_a_lost_gate_is_taken_again(redis: Redis) -> None:
    gate = BatchGate(redis, KEY, 0, longest_batch_seconds=0.1, hold_margin_seconds=0.2)
    async with gate.turns() as turns:
        async with turns.batch():
            pass
        await redis.set(KEY, "someone else", px=150)  # e.g. it expired and another took it
        await asyncio.sleep(0.12)
        async with turns.batch():  # renewal fails: waits for the other holder, then enters
            assert await redis.get(KEY) != b"someone else"


async def test_a_failed_batch_leaves_the_gate_at_once(redis: Redis) -> None:
    gate = BatchGate(redis, KEY, 0)
    async with gate.turns() as turns:
        try:
            async with turns.batch():
                raise RuntimeError("provider blew up")
        except RuntimeError:
            pass
        assert await redis.get(KEY) is None


async def test_a_pause_follows_every_batch_even_within_a_run(redis: Redis) -> None:
    gate = BatchGate(redis, KEY, 0.2)
    loop = asyncio.get_running_loop()
    async with gate.turns() as turns:
        async with turns.batch():
            pass
        assert (await redis.get(KEY) or b"").startswith(b"pause:")
        left = loop.time()
        async with turns.batch():
            assert loop.time() - left >= 0.19


async def test_a_batch_s_pause_is_timed_from_its_last_answer_not_from_its_leaving(
    redis: Redis,
) -> None:
    """Issue 24 item 2: what the caller does after the batch's last answer (reading the
    answers, the gate's own round trip) is part of the pause, not added to it; the pause
    still holds in full from that answer."""
    gate = BatchGate(redis, KEY, 0.3)
    loop = asyncio.get_running_loop()
    async with gate.turns() as turns:
        async with turns.batch() as batch:
            batch.answered()
            last_answer = loop.time()
            await asyncio.sleep(0.2)  # the caller is busy with the answers
        async with turns.batch():
            started = loop.time()
    assert started - last_answer >= 0.3
    assert started - last_answer < 0.45  # not 0.5: the 0.2 s were part of the pause


async def test_a_spacer_times_each_request_from_the_previous_answer_retries_included(
    redis: Redis,
) -> None:
    """Instagram's pace (issue 32): the next request, a retry included, leaves at least the
    spacing after the previous answer (or failure) arrived, however long the answer took."""
    spacing, latency = 0.3, 0.2
    policy = RetryPolicy(max_attempts=2, backoff_base_seconds=0, backoff_max_seconds=0)
    retrier = Retrier(policy, pace=Spacer(redis, "test:pace:spacer", spacing))
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    answered: list[float] = []

    async def attempt() -> FetchResult:
        sent.append(loop.time())
        await asyncio.sleep(latency)
        answered.append(loop.time())
        if len(sent) == 1:  # a transient failure: retried at once by the policy
            return FetchError(FetchErrorKind.UPSTREAM, "503", StatsSource.INSTAGRAM)
        return FetchError(FetchErrorKind.NOT_FOUND, "gone", StatsSource.INSTAGRAM)

    source = StatsSource.INSTAGRAM
    await retrier.run(attempt, source=source, deadline=retrier.deadline())
    await retrier.run(attempt, source=source, deadline=retrier.deadline())
    assert len(sent) == 3
    gaps = [later - earlier for earlier, later in zip(answered, sent[1:], strict=False)]
    assert min(gaps) >= spacing - 0.01, gaps


async def test_after_a_pause_the_next_batch_starts_with_no_round_trip_of_its_own(
    redis: Redis,
) -> None:
    """Issue 24 item 2: the caller that finds a pause takes the gate at once, reserved from
    the pause's end, and sleeps out the rest; no second round trip to Redis (and no second
    wake-up) lies between the pause's end and its batch. The pause still holds in full, and
    another process asking meanwhile waits for the reserved batch and its own pause."""
    gate, other = BatchGate(redis, KEY, 0.2), BatchGate(redis, KEY, 0.2)
    calls = 0
    enter = gate._enter

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await enter(*args, **kwargs)

    gate._enter = counted  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    order: list[str] = []

    async def intruder() -> None:
        async with other.turns() as turns, turns.batch():
            order.append("other")

    async with gate.turns() as turns:
        async with turns.batch():
            order.append("first")
        left = loop.time()
        calls = 0
        async with turns.batch():
            assert loop.time() - left >= 0.19  # the pause, in full
            assert calls == 1
            waiting = asyncio.create_task(intruder())
            await asyncio.sleep(0.05)
            order.append("second")
        assert not waiting.done()
        ended = loop.time()
    await asyncio.wait_for(waiting, 2)
    assert loop.time() - ended >= 0.19
    assert order == ["first", "second", "other"]


async def test_a_reservation_given_up_leaves_the_gate_to_the_others_after_a_pause(
    redis: Redis,
) -> None:
    """A caller stopped while it sleeps out a pause (a worker shutting down) hands the gate
    back: the others wait a pause, not the hold a crashed holder would cost."""
    gate = BatchGate(redis, KEY, 0.2, longest_batch_seconds=30)
    other = BatchGate(redis, KEY, 0.2, longest_batch_seconds=30)
    async with gate.turns() as turns, turns.batch():
        pass
    reserving = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.05)
    reserving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reserving
    token = await asyncio.wait_for(other.acquire(), 1)
    await other.release(token)


@pytest.mark.parametrize(
    "client",
    [
        lambda: build_http_client(Settings()),  # the providers': aiohttp under httpx
        lambda: httpx.AsyncClient(trust_env=False),  # httpx's own transport, the webhooks'
    ],
    ids=["providers", "httpcore"],
)
async def test_an_http_client_does_no_import_work_per_request(
    client: Callable[[], httpx.AsyncClient],
) -> None:
    """Issue 24 item 2: httpcore imported (and failed to find) sniffio inside every lock and
    event of every request, a path search on the critical path of each batch (app/__init__
    records it absent)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.CancelledError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        writer.close()

    class Counting(importlib.abc.MetaPathFinder):
        searched: ClassVar[list[str]] = []

        def find_spec(self, name: str, *args: object) -> None:
            self.searched.append(name)

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, client() as http:
        await http.get(f"http://127.0.0.1:{port}/")  # warm: connection, lazy imports
        finder = Counting()
        sys.meta_path.insert(0, finder)
        try:
            await asyncio.gather(*(http.get(f"http://127.0.0.1:{port}/") for _ in range(10)))
        finally:
            sys.meta_path.remove(finder)
    assert Counting.searched == []


async def test_a_reservation_is_held_for_its_whole_batch_but_not_long_by_a_dead_caller(
    redis: Redis,
) -> None:
    """A reservation holds the gate only a margin past the pause until its batch starts and
    extends it: a caller killed in its sleep (no release) blocks the others for about the
    pause plus the margin, not the longest batch; a live one keeps the gate for a batch
    longer than the margin."""
    gate = BatchGate(redis, KEY, 0.1, longest_batch_seconds=30, hold_margin_seconds=0.2)
    other = BatchGate(redis, KEY, 0.1, longest_batch_seconds=30, hold_margin_seconds=0.2)
    loop = asyncio.get_running_loop()
    async with gate.turns() as turns:
        async with turns.batch():
            pass
        async with turns.batch():  # reserved during the pause
            intruder = asyncio.create_task(other.acquire())
            await asyncio.sleep(0.5)  # longer than the margin
            assert not intruder.done()
    await other.release(await asyncio.wait_for(intruder, 2))

    await asyncio.sleep(0.15)  # the pause after the intruder's batch is over
    async with gate.turns() as turns, turns.batch():
        pass
    # A caller that reserves and dies before its batch: the reservation, then nothing.
    keys = [KEY, f"{KEY}:waiting", f"{KEY}:reserved"]
    assert int(await gate._enter(keys=keys, args=["dead", 30_200, 50, 200])) > 0
    started = loop.time()
    await other.release(await asyncio.wait_for(other.acquire(), 5))
    assert loop.time() - started < 1.0  # pause 0.1 s + margin 0.2 s, not 30 s


SPACER = "test:pace:spacer"


async def spaced(spacer: Spacer, order: list[str], name: str) -> None:
    """One request through the spacer, noted in `order` while it is in flight."""
    answered = await spacer()
    order.append(name)
    await answer(answered)


async def test_a_spacer_without_spacing_keeps_the_gate_through_a_run(redis: Redis) -> None:
    """Issue 24 item 1: inside a run (a claim's Instagram posts), a spacer with no spacing
    takes the gate once rather than twice a request; another process waits for the run. An
    answer inside the run has nothing to wait for (no turn of the event loop: a busy loop
    held such a lane to a few posts a turn)."""
    spacer, other = Spacer(redis, SPACER, 0), Spacer(redis, SPACER, 0)
    order: list[str] = []
    async with spacer.run():
        answered = await spacer()
        held = await redis.get(SPACER)
        waiting = asyncio.create_task(spaced(other, order, "other"))
        order.append("first")
        assert answered() is None
        await asyncio.sleep(0.05)
        assert await redis.get(SPACER) == held  # kept between the requests, not re-taken
        answered = await spacer()
        order.append("second")
        assert answered() is None
        assert not waiting.done()
    await asyncio.wait_for(waiting, 1)
    assert order == ["first", "second", "other"]
    assert await redis.get(SPACER) is None  # the run's end left it


async def test_a_fetch_cut_off_in_flight_still_ends_its_request(redis: Redis) -> None:
    """A fetch cancelled while its request is in flight (a shutdown) ends the request as an
    answer would: outside a run its pause starts; inside one, the process's next request goes
    at once, and the run's end leaves the gate."""
    policy = RetryPolicy(max_attempts=1)
    in_flight = asyncio.Event()

    async def attempt() -> FetchResult:
        in_flight.set()
        await asyncio.sleep(10)
        raise AssertionError("not cut off")

    async def cut_off(retrier: Retrier) -> None:
        in_flight.clear()
        fetch = asyncio.create_task(
            retrier.run(attempt, source=StatsSource.INSTAGRAM, deadline=retrier.deadline())
        )
        await asyncio.wait_for(in_flight.wait(), 1)
        fetch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetch

    await cut_off(Retrier(policy, pace=Spacer(redis, SPACER, 0.3)))
    assert (await redis.get(SPACER) or b"").startswith(b"pause:")

    kept = f"{SPACER}:run"
    spacer = Spacer(redis, kept, 0)
    async with spacer.run():
        await cut_off(Retrier(policy, pace=spacer))
        turn_kept = spacer._one_at_a_time.locked()
        if turn_kept:  # given back here, or the run's end would wait for it forever
            spacer._one_at_a_time.release()
        assert await redis.get(kept) is not None  # the run keeps the gate
    assert not turn_kept, "the request cut off kept the process's turn: the next would wait"
    assert await redis.get(kept) is None


async def test_a_spacer_s_run_gives_way_to_another_process_before_its_end(redis: Redis) -> None:
    spacer = Spacer(redis, SPACER, 0, longest_request_seconds=0.1, hold_margin_seconds=0.2)
    other = Spacer(redis, SPACER, 0, longest_request_seconds=0.1, hold_margin_seconds=0.2)
    order: list[str] = []
    async with spacer.run():
        for n in range(20):  # a long run: 20 requests of 0.02 s
            answered = await spacer()
            if n == 1:
                waiting = asyncio.create_task(spaced(other, order, "other"))
            await asyncio.sleep(0.02)
            order.append("run")
            await answer(answered)
    await waiting
    assert "other" in order[:12], order  # let in at the run's next renewal, not at its end


async def test_one_process_s_requests_in_a_run_take_turns(redis: Redis) -> None:
    """The refresher and the lister of one lane share its spacer: in a run, where the gate
    stays the process's, they still send one request at a time."""
    spacer = Spacer(redis, SPACER, 0)
    in_flight, most = 0, 0

    async def request() -> None:
        nonlocal in_flight, most
        answered = await spacer()
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await answer(answered)

    async with spacer.run():  # and none waits for the gate its own process keeps
        await asyncio.wait_for(asyncio.gather(*(request() for _ in range(5))), 2)
    assert most == 1
    assert await redis.get(SPACER) is None


async def test_a_spacer_with_spacing_leaves_the_gate_to_its_pause_inside_a_run(
    redis: Redis,
) -> None:
    spacer = Spacer(redis, SPACER, 0.2)
    loop = asyncio.get_running_loop()
    async with spacer.run():
        answered = await spacer()
        await answer(answered)
        assert (await redis.get(SPACER) or b"").startswith(b"pause:")
        left = loop.time()
        answered = await spacer()
        assert loop.time() - left >= 0.19
        await answer(answered)


async def test_a_request_that_waited_its_turn_past_the_run_s_end_leaves_the_gate(
    redis: Redis,
) -> None:
    """The run ends while one request is in flight and another waits its turn: the waiting
    one goes after the run, taking and leaving the gate itself, and nothing keeps it."""
    spacer = Spacer(redis, SPACER, 0)
    leave, answered_now = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        async with spacer.run():
            await leave.wait()

    async def in_flight() -> None:
        answered = await spacer()
        await answered_now.wait()
        await answer(answered)

    async def waiting() -> None:
        answered = await spacer()
        await answer(answered)

    runner = asyncio.create_task(run())
    await asyncio.sleep(0.01)
    first = asyncio.create_task(in_flight())  # the run's request, its turn held
    await asyncio.sleep(0.01)
    leave.set()  # the run's end waits for that answer
    await asyncio.sleep(0.01)
    second = asyncio.create_task(waiting())  # waits its turn behind the run's end
    await asyncio.sleep(0.01)
    answered_now.set()
    await asyncio.wait_for(asyncio.gather(runner, first, second), 2)
    assert await redis.get(SPACER) is None
    answered = await asyncio.wait_for(spacer(), 1)  # the next request goes at once
    await answer(answered)
