"""Drill 12: graceful stops, as a rollout does them (SIGTERM, then a kill after the grace
period). A worker stopped mid-refresh hands back what it holds at once and flushes what it
fetched, and the other worker carries on; the API stops accepting connections and finishes
the request in flight. README "Stopping and rollouts"."""

import asyncio
import signal
import socket
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Campaign, Post, PostEvent, StatsSnapshot
from app.settings import Settings
from tests.drills.test_drills import count, eventually, set_faults, young_videos
from tests.engine_kit import seed
from tests.processes import (
    api_process,
    cli,
    sandbox_server,
    start_worker,
    stop,
    worker_env,
)

SM = async_sessionmaker[AsyncSession]
POSTS = 500
GRACE = 15.0
# The claim lease is left at its default (300 s): a post the stopped worker kept leased
# would wait that long, far past every bound below.
LEASE = 300.0


async def _refreshed(sm: SM) -> int:
    return await count(sm, Post.last_refreshed_at.is_not(None))


async def _leased(sm: SM) -> int:
    return await count(sm, Post.lease_expires_at.is_not(None))


async def test_drill_12_a_worker_stopped_mid_refresh_hands_back_and_flushes(
    committed: SM, settings: Settings, redis: Redis
) -> None:
    """Two workers share 500 due posts, each fetching from a sandbox of its own (the same
    synthetic stats; each sandbox's log shows what its worker fetched). The first gets
    SIGTERM while both hold claims and a batch is in flight: it fetches at most that batch
    after the signal, exits cleanly within its grace period having written what it fetched
    and handed back what it had not, and the second worker refreshes everything left long
    before any lease could run out. Every post's stats are written once."""
    now = datetime.now(UTC)
    ids = young_videos(POSTS)
    await seed(committed, [(Platform.TIKTOK, v) for v in ids], now)
    with (
        sandbox_server() as first_sandbox,
        sandbox_server() as second_sandbox,
        tempfile.TemporaryFile() as first_log,
    ):
        # A batch takes 150 ms to answer: the SIGTERM almost always lands on one in flight.
        for sandbox in (first_sandbox, second_sandbox):
            set_faults(sandbox, latency_ms=150)
        overrides = {
            "tiktok_batch_pause_seconds": 0.05,
            # Claims of 50 (a claim is at most one write): both workers hold posts at once.
            "write_batch_max": 50,
            "write_batch_min": 10,
            "claim_lease_seconds": LEASE,
            "worker_stop_grace_seconds": GRACE,
        }
        first = start_worker(worker_env(settings, first_sandbox, **overrides), log=first_log)
        second = start_worker(worker_env(settings, second_sandbox, **overrides))
        try:
            await eventually(
                lambda: _more_than(committed, 100), 90, "the workers refreshed 100 posts"
            )
            signalled = time.monotonic()
            first.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(first.wait, GRACE + 10)
            stopped_in = time.monotonic() - signalled
            left = POSTS - await _refreshed(committed)
            assert left > 0, "the drill must stop the worker mid-run"
            # The second worker takes the handed-back posts now, not after LEASE seconds.
            await eventually(lambda: _more_than(committed, POSTS - 1), 90, "every post refreshed")
            fetched_by_first = _fetched(first_sandbox)
            fetched_by_second = _fetched(second_sandbox)
            second_code = stop(second)
        finally:
            stop(first)
            stop(second)
        first_log.seek(0)
        first_output = first_log.read().decode()
    assert code == 0, first_output
    assert second_code == 0
    assert stopped_in < GRACE, (stopped_in, first_output)
    assert "Traceback" not in first_output, first_output
    # No claim after the signal: only the batch in flight (at most one, of 10) was fetched.
    after = [video for at, video in fetched_by_first if at > signalled]
    assert len(after) <= 10, (len(after), first_output)
    # What it had claimed and not fetched it handed back: the second worker refreshed every
    # post above within 90 s, and a post left leased would have waited LEASE (300 s). Its
    # sweep says how many when it held any at the signal (one landing between its claims,
    # on a busy machine, finds none to hand back, and the sweep has nothing to say).
    handed = [line for line in first_output.splitlines() if "handed_back" in line]
    assert len(handed) <= 1, handed
    assert all("tiktok sweep" in line for line in handed), handed
    assert first_output.splitlines()[-1].endswith("stopped"), first_output
    async with committed() as session:
        snapshots = Counter((await session.scalars(select(StatsSnapshot.post_id))).all())
        events = (await session.execute(select(PostEvent.post_id, PostEvent.to_status))).all()
    # Nothing lost, nothing written twice: one snapshot per post, each from one fetch, and
    # no video fetched by both workers.
    assert len(snapshots) == POSTS
    assert set(snapshots.values()) == {1}, Counter(snapshots.values())
    first_ids = {video for _, video in fetched_by_first}
    second_ids = {video for _, video in fetched_by_second}
    assert first_ids | second_ids == set(ids)
    assert first_ids & second_ids == set()
    assert max(Counter(events).values(), default=1) == 1
    assert await _leased(committed) == 0


def _fetched(sandbox: str) -> list[tuple[float, str]]:
    """(when, video id) of every request the sandbox got from TikTok's primary client."""
    log = httpx.get(f"{sandbox}/__sandbox/requests", timeout=5).json()["requests"]
    return [(r["monotonic"], r["video_id"]) for r in log if r["provider"] == "tiktok_primary"]


async def _more_than(sm: SM, n: int) -> bool:
    return await _refreshed(sm) > n


async def _slow_body(first: bytes, rest: bytes, go: asyncio.Event) -> AsyncIterator[bytes]:
    yield first
    await go.wait()
    yield rest


def _accepts(url: str) -> bool:
    port = httpx.URL(url).port
    assert port is not None
    with socket.socket() as sock:
        sock.settimeout(1)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_drill_12_the_api_stopped_mid_request_finishes_it(
    committed: SM, settings: Settings
) -> None:
    """SIGTERM while a request is in flight (its body half sent): the API stops accepting
    connections at once, then answers that request in full and exits cleanly."""
    env = worker_env(settings, "http://127.0.0.1:9", uvicorn_timeout_graceful_shutdown=int(GRACE))
    key = cli(env, "orgs", "create", "Stopping")
    with api_process(env) as (url, proc):
        go = asyncio.Event()
        body = b'{"name": "Stopped mid-request", "currency": "USD"}'
        async with httpx.AsyncClient(
            base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}
        ) as client:
            request = asyncio.create_task(
                client.post(
                    "/v1/campaigns",
                    content=_slow_body(body[:10], body[10:], go),
                    headers={"Content-Type": "application/json", "Content-Length": str(len(body))},
                )
            )
            await asyncio.sleep(0.5)  # the request line and the body's first bytes are in
            proc.send_signal(signal.SIGTERM)
            await eventually(
                lambda: asyncio.to_thread(lambda: not _accepts(url)),
                10,
                "the API stopped accepting connections",
            )
            assert not request.done()
            go.set()
            answer = await request
        code = await asyncio.to_thread(proc.wait, GRACE)
    # Answered in full after the signal, and done: the campaign exists.
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "Stopped mid-request"
    # uvicorn, once shut down, raises the signal it caught again: the exit a SIGTERM gives.
    assert code == -signal.SIGTERM
    async with committed() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 1
