"""Worker processes for real: two of them against one sandbox server. Pacing must hold for
the deployment as a whole, measured from the sandbox's own request log."""

import asyncio
import itertools
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Post
from app.platforms.sandbox.videos import start_of_day
from app.settings import Settings
from app.workers.metrics import HEARTBEATS
from tests.engine_kit import find_video, seed
from tests.processes import free_port, sandbox_server, start_worker, stop, worker_env

PAUSE = 0.3
SPACING = 0.4
# Slots are reserved in Redis and the request leaves at once, but what the provider sees also
# carries the client's jitter: a worker's first request opens its connection (and, on a fresh
# checkout, compiles what it imports), which can take a couple of hundred milliseconds. Two
# uncoordinated workers would send requests nearly together, far below this slack.
JITTER = 0.25
LATENCY_MS = 600


def _clusters(times: list[float], gap: float) -> list[list[float]]:
    clusters: list[list[float]] = []
    for t in sorted(times):
        if clusters and t - clusters[-1][-1] < gap:
            clusters[-1].append(t)
        else:
            clusters.append([t])
    return clusters


async def _wait_all_refreshed(
    sm: async_sessionmaker[AsyncSession], total: int, within: float
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with sm() as session:
            done = await session.scalar(
                select(func.count()).select_from(Post).where(Post.last_refreshed_at.is_not(None))
            )
        if done == total:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"only {done} of {total} posts were refreshed")


async def test_two_workers_together_keep_the_pacing_and_refresh_everything(
    committed: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> None:
    now = datetime.now(UTC)
    anchor = start_of_day(now)
    tiktok: list[str] = []
    for _ in range(45):
        tiktok.append(
            find_video(
                Platform.TIKTOK, anchor, lambda v: (now - v.created_at).days < 25, skip=tiktok
            )
        )
    instagram: list[str] = []
    for _ in range(6):
        instagram.append(
            find_video(
                Platform.INSTAGRAM, anchor, lambda v: (now - v.created_at).days < 25, skip=instagram
            )
        )
    await seed(
        committed,
        [(Platform.TIKTOK, v) for v in tiktok] + [(Platform.INSTAGRAM, v) for v in instagram],
        now,
    )
    with sandbox_server() as url:
        # Answers slower than the Instagram spacing: only "one request in flight" keeps
        # the second worker from starting its request while the first is still out.
        async with httpx.AsyncClient(base_url=url) as sandbox:
            faults = {"latency_ms": LATENCY_MS}
            (await sandbox.post("/__sandbox/faults", json=faults)).raise_for_status()
        env = worker_env(
            settings,
            url,
            tiktok_batch_pause_seconds=PAUSE,
            instagram_request_spacing_seconds=SPACING,
            claim_lease_seconds=6,  # small claims, so both workers get Instagram posts
        )
        workers = [
            start_worker(env),
            # A port of its own: "the first one's + 1" can be taken, by the other test worker.
            start_worker({**env, "WORKER_METRICS_PORT": str(free_port())}),
        ]
        try:
            await _wait_all_refreshed(committed, len(tiktok) + len(instagram), within=90)
            beats = await redis.zrange(HEARTBEATS, 0, -1)
            async with httpx.AsyncClient(base_url=url) as client:
                log = (await client.get("/__sandbox/requests")).json()["requests"]
        finally:
            codes = [stop(w) for w in workers]
    assert codes == [0, 0]  # SIGTERM is a clean stop
    assert len(beats) == 2

    primary = [r["monotonic"] for r in log if r["provider"] == "tiktok_primary"]
    assert sorted(r["video_id"] for r in log if r["provider"] == "tiktok_primary") == sorted(tiktok)
    batches = _clusters(primary, PAUSE / 2)
    assert all(len(b) <= 10 for b in batches), [len(b) for b in batches]
    gaps = [later[0] - earlier[-1] for earlier, later in itertools.pairwise(batches)]
    assert min(gaps) >= PAUSE - JITTER, gaps
    assert statistics.median(gaps) >= PAUSE - 0.02, gaps

    starts = sorted(r["monotonic"] for r in log if r["provider"] == "instagram")
    assert len(starts) == len(instagram)
    spacing = [b - a for a, b in itertools.pairwise(starts)]
    assert min(spacing) >= SPACING - JITTER, spacing
    assert statistics.median(spacing) >= LATENCY_MS / 1000, spacing


async def test_a_worker_whose_metrics_port_is_taken_warns_and_works_on(
    committed: async_sessionmaker[AsyncSession], settings: Settings, redis: Redis
) -> None:
    """Issue 22 item 17: a taken WORKER_METRICS_PORT used to end the worker with a traceback
    (and with it `make run`); now it is one warning line and the worker does its work."""
    now = datetime.now(UTC)
    anchor = start_of_day(now)
    video = find_video(Platform.TIKTOK, anchor, lambda v: (now - v.created_at).days < 25)
    await seed(committed, [(Platform.TIKTOK, video)], now)
    with (
        socket.socket() as taken,
        sandbox_server() as url,
        tempfile.TemporaryFile() as log,
    ):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = worker_env(settings, url, worker_metrics_port=port)
        worker = start_worker(env, log=log)
        try:
            await _wait_all_refreshed(committed, 1, within=60)
            assert worker.poll() is None
        finally:
            code = stop(worker)
        log.seek(0)
        output = log.read().decode()
    assert code == 0, output
    assert "Traceback" not in output
    (warning,) = [line for line in output.splitlines() if "metrics are not served" in line]
    assert f"127.0.0.1:{port}" in warning
    assert "WORKER_METRICS_PORT" in warning
