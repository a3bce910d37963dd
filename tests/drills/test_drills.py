"""Fault drills: real processes (API, workers, sandbox), something broken on purpose, and a
check that nothing was lost. Each drill documents what it proves; see README "Fault drills"."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Post, PostEvent, StatsSnapshot
from app.platforms.sandbox.videos import start_of_day
from app.settings import PROJECT_ROOT, Settings
from tests.drills.servers import private_postgres, private_redis
from tests.engine_kit import find_videos, seed
from tests.processes import (
    api_server,
    cli,
    free_port,
    sandbox_server,
    start_worker,
    stop,
    worker_env,
)

SM = async_sessionmaker[AsyncSession]


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within} s: {what}")


def young_videos(n: int, platform: Platform = Platform.TIKTOK) -> list[str]:
    """Videos under 6 days old: tracked and refreshed, none decided (or rejected) yet."""
    now = datetime.now(UTC)
    anchor = start_of_day(now)
    return find_videos(platform, anchor, lambda v: now - v.created_at < timedelta(days=6), n)


async def count(sm: SM, *where: object) -> int:
    async with sm() as session:
        return int(await session.scalar(select(func.count()).select_from(Post).where(*where)) or 0)  # type: ignore[arg-type]


def set_faults(sandbox: str, **faults: object) -> None:
    httpx.post(f"{sandbox}/__sandbox/faults", json=faults, timeout=5).raise_for_status()


def metric(url: str, name: str) -> float | None:
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_drill_1_a_worker_killed_mid_refresh_loses_nothing(
    committed: SM, settings: Settings
) -> None:
    """kill -9 a worker while it refreshes 500 posts; another worker takes over once the
    leases run out: every post refreshed, no lifecycle transition twice."""
    now = datetime.now(UTC)
    ids = young_videos(500)
    await seed(committed, [(Platform.TIKTOK, v) for v in ids], now)
    with sandbox_server() as sandbox:
        set_faults(sandbox, latency_ms=20)
        env = worker_env(
            settings,
            sandbox,
            tiktok_batch_pause_seconds=0.05,
            claim_lease_seconds=3,
        )
        first = start_worker(env)
        try:
            await eventually(
                lambda: _more_than(committed, 100), 60, "the first worker refreshed 100 posts"
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        left = 500 - await count(committed, Post.last_refreshed_at.is_not(None))
        assert left > 0, "the drill must kill the worker mid-run"
        # A port checked free now: "the first one's + 1" may be another process's.
        second = start_worker({**env, "WORKER_METRICS_PORT": str(free_port())})
        try:
            await eventually(lambda: _more_than(committed, 499), 90, "every post refreshed")
        finally:
            assert stop(second) == 0
    async with committed() as session:
        events = (await session.execute(select(PostEvent.post_id, PostEvent.to_status))).all()
        leased = await session.scalar(
            select(func.count()).select_from(Post).where(Post.lease_expires_at.is_not(None))
        )
    assert max(Counter(events).values(), default=1) == 1  # no transition twice
    assert leased == 0


async def _more_than(sm: SM, n: int) -> bool:
    return await count(sm, Post.last_refreshed_at.is_not(None)) > n


async def _sources(sm: SM) -> Counter[str]:
    async with sm() as session:
        return Counter((await session.scalars(select(StatsSnapshot.source))).all())


async def _make_all_due(sm: SM) -> None:
    async with sm() as session:
        await session.execute(update(Post).values(next_refresh_at=func.now()))
        await session.commit()


async def test_drill_2_primary_down_then_back(committed: SM, settings: Settings) -> None:
    """The TikTok primary answers 500 for everything, then times out: the backup serves every
    video and the breaker opens. The primary recovers: traffic returns to it."""
    ids = young_videos(30)
    await seed(committed, [(Platform.TIKTOK, v) for v in ids], datetime.now(UTC))
    with sandbox_server() as sandbox:
        set_faults(sandbox, tiktok_primary="500")
        env = worker_env(
            settings,
            sandbox,
            breaker_failure_threshold=3,
            breaker_cooldown_seconds=2,
            provider_max_attempts=2,
            provider_backoff_base_seconds=0,
            http_timeout_seconds=0.5,
            tiktok_batch_pause_seconds=0.05,
        )
        metrics_url = f"http://127.0.0.1:{env['WORKER_METRICS_PORT']}/metrics"
        worker = start_worker(env)
        try:
            await eventually(lambda: _more_than(committed, 29), 60, "every post served")
            assert await _sources(committed) == {"backup": 30}
            assert metric(metrics_url, 'viewledger_breaker_state{breaker="tiktok_primary"}') == 1.0
            # Timeouts now: the half-open trial fails too, the backup keeps serving.
            set_faults(sandbox, tiktok_primary="timeout")
            await asyncio.sleep(2.5)
            await _make_all_due(committed)
            await eventually(lambda: _snapshots_at_least(committed, 60), 60, "second round served")
            assert (await _sources(committed))["backup"] == 60
            # Recovery: after the cool-down the primary is tried again and takes over.
            set_faults(sandbox, tiktok_primary=None)
            await asyncio.sleep(2.5)
            await _make_all_due(committed)
            await eventually(lambda: _snapshots_at_least(committed, 90), 60, "third round served")
            # Half-open lets one trial through while the rest of that batch still goes to
            # the backup; once the trial succeeds the breaker closes.
            assert metric(metrics_url, 'viewledger_breaker_state{breaker="tiktok_primary"}') == 0.0
            before = (await _sources(committed))["primary"]
            await _make_all_due(committed)
            await eventually(lambda: _snapshots_at_least(committed, 120), 60, "fourth round")
            assert (await _sources(committed))["primary"] == before + 30
        finally:
            assert stop(worker) == 0


async def _snapshots_at_least(sm: SM, n: int) -> bool:
    return sum((await _sources(sm)).values()) >= n


async def test_drill_3_every_provider_down_then_back(committed: SM, settings: Settings) -> None:
    """Both TikTok providers and Instagram fail: stats stay as they were, errors are recorded,
    nothing crashes. When they recover, the next refresh succeeds."""
    tiktok, instagram = young_videos(10), young_videos(3, Platform.INSTAGRAM)
    await seed(
        committed,
        [(Platform.TIKTOK, v) for v in tiktok] + [(Platform.INSTAGRAM, v) for v in instagram],
        datetime.now(UTC),
    )
    async with committed() as session:
        await session.execute(update(Post).values(views=777))
        await session.commit()
    with sandbox_server() as sandbox:
        set_faults(sandbox, tiktok_primary="500", tiktok_backup="503", instagram="500")
        env = worker_env(
            settings,
            sandbox,
            provider_max_attempts=2,
            provider_backoff_base_seconds=0,
            failed_fetch_retry_seconds=2,
            instagram_request_spacing_seconds=0.1,
        )
        worker = start_worker(env)
        try:
            await eventually(lambda: _all_failed(committed, 13), 60, "every post recorded an error")
            assert await count(committed, Post.views != 777) == 0
            assert worker.poll() is None
            set_faults(sandbox, tiktok_primary=None, tiktok_backup=None, instagram=None)
            await eventually(
                lambda: _all_recovered(committed, 13), 60, "every post refreshed again"
            )
        finally:
            assert stop(worker) == 0


async def _all_failed(sm: SM, n: int) -> bool:
    return await count(sm, Post.consecutive_failures > 0, Post.last_error_code == "upstream") == n


async def _all_recovered(sm: SM, n: int) -> bool:
    return await count(sm, Post.consecutive_failures == 0, Post.last_refreshed_at.is_not(None)) == n


async def test_drill_4_redis_restarts_mid_run(committed: SM, settings: Settings) -> None:
    """Redis is restarted while a worker refreshes 300 posts: the worker reconnects and
    finishes; no post is lost."""
    ids = young_videos(300)
    await seed(committed, [(Platform.TIKTOK, v) for v in ids], datetime.now(UTC))
    with private_redis() as redis, sandbox_server() as sandbox:
        set_faults(sandbox, latency_ms=20)
        env = worker_env(settings, sandbox, redis_url=redis.url, tiktok_batch_pause_seconds=0.1)
        worker = start_worker(env)
        try:
            await eventually(lambda: _more_than(committed, 40), 60, "the run got going")
            redis.stop()
            await asyncio.sleep(1.5)
            redis.start()
            await eventually(lambda: _more_than(committed, 299), 120, "every post refreshed")
            assert worker.poll() is None
        finally:
            assert stop(worker) == 0


async def test_drill_5_postgres_restarts(settings: Settings) -> None:
    """PostgreSQL is restarted: /health/ready answers 503 during the outage and 200 after;
    the API and the worker carry on without a restart of their own."""
    with private_postgres() as pg, sandbox_server() as sandbox:
        env = worker_env(settings, sandbox, database_url=pg.url, failed_fetch_retry_seconds=1)
        cli(env, "db", "upgrade")
        key = cli(env, "orgs", "create", "Drill")
        worker = start_worker(env)
        try:
            with api_server(env) as api:
                async with httpx.AsyncClient(
                    base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=10
                ) as client:
                    assert (await client.get("/health/ready")).status_code == 200
                    campaign = await _setup_campaign(client)
                    first = await _add_post(
                        client, campaign, "https://www.tiktok.com/@x/video/11111"
                    )
                    assert first.status_code == 201
                    pg.stop("fast")
                    await eventually(lambda: _status_is(client, 503), 20, "ready is 503 while down")
                    assert (await client.get("/v1/campaigns")).status_code == 503
                    pg.start()
                    await eventually(lambda: _status_is(client, 200), 30, "ready is 200 again")
                    assert (await client.get("/v1/campaigns")).status_code == 200
                    post = (
                        await _add_post(client, campaign, "https://www.tiktok.com/@x/video/22222")
                    ).json()
                    await eventually(
                        lambda: _refreshed(client, post["id"]), 60, "a new post refreshed"
                    )
                    assert worker.poll() is None
        finally:
            assert stop(worker) == 0


async def _status_is(client: httpx.AsyncClient, status: int) -> bool:
    try:
        return (await client.get("/health/ready")).status_code == status
    except httpx.HTTPError:
        return False


async def _refreshed(client: httpx.AsyncClient, post_id: str) -> bool:
    return (await client.get(f"/v1/posts/{post_id}")).json()["last_refreshed_at"] is not None


async def _setup_campaign(client: httpx.AsyncClient) -> str:
    campaign = (await client.post("/v1/campaigns", json={"name": "Drill"})).json()["id"]
    creator = (await client.post("/v1/creators", json={"platform": "tiktok", "handle": "x"})).json()
    member = {"creator_id": creator["id"]}
    (await client.post(f"/v1/campaigns/{campaign}/members", json=member)).raise_for_status()
    return str(campaign)


async def _add_post(client: httpx.AsyncClient, campaign: str, url: str) -> httpx.Response:
    return await client.post(f"/v1/campaigns/{campaign}/posts", json={"url": url})


async def test_drill_6_tier_assignments_race_the_deadline_sweep(
    committed: SM, settings: Settings
) -> None:
    """50 concurrent tier assignments race the worker's deadline sweep on the same posts:
    each post is finalized exactly once, with one event and one earnings figure."""
    now = datetime.now(UTC)
    s = await seed(
        committed, [(Platform.TIKTOK, str(70_000 + i)) for i in range(10)], now, cpm=None
    )
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=now - timedelta(days=8),
                views=4000,
                last_refreshed_at=now,
                next_refresh_at=now + timedelta(hours=6),
            )
        )
        await session.commit()
    key = cli(
        worker_env(settings, "http://127.0.0.1:1"),
        "keys",
        "create",
        "--org",
        str(s.organization_id),
        "--role",
        "admin",
    )
    with sandbox_server() as sandbox:
        env = worker_env(settings, sandbox)
        with api_server(env) as api:
            async with httpx.AsyncClient(
                base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=30
            ) as client:
                tier = (
                    await client.post(
                        f"/v1/campaigns/{s.campaign_id}/cpm-tiers",
                        json={"name": "Late", "cpm": "3"},
                    )
                ).json()
                worker = start_worker(env)
                try:
                    codes = await asyncio.gather(
                        *(
                            client.patch(f"/v1/posts/{pid}", json={"cpm_tier_id": tier["id"]})
                            for pid in s.posts.values()
                            for _ in range(5)
                        )
                    )
                    assert {r.status_code for r in codes} <= {200, 409}
                    await eventually(
                        lambda: _all_finalized(committed, 10), 30, "every post finalized"
                    )
                finally:
                    assert stop(worker) == 0
    async with committed() as session:
        posts = (await session.scalars(select(Post))).all()
        events = (await session.execute(select(PostEvent.post_id, PostEvent.to_status))).all()
    assert {(p.status, p.locked_views, str(p.earnings)) for p in posts} == {
        ("finalized", 4000, "12.00")
    }
    assert Counter(e.post_id for e in events if e.to_status == "finalized") == Counter(
        s.posts.values()
    )
    assert max(Counter(events).values()) == 1


async def _all_finalized(sm: SM, n: int) -> bool:
    return await count(sm, Post.status == "finalized") == n


async def test_drill_7_the_api_survives_fuzzing_from_its_own_openapi(
    committed: SM, settings: Settings
) -> None:
    """Schemathesis generates requests for every operation from /openapi.json and runs every
    check in every phase: no 5xx; every answer matches its declared status, content type,
    headers and schema; schema-valid input is accepted and schema-invalid input refused;
    a request without the key is refused; and the stateful phase follows the document's
    links (create -> get -> update -> list) and finds what it created. What the run is told
    beyond the document is in tests/drills/schemathesis.toml and fuzz_hooks.py, with why.
    FUZZ_EXAMPLES bounds the cases per operation (and so the run's time); the seed is fixed so
    the drill is stable (FUZZ_SEED explores others)."""
    env = worker_env(settings, "http://127.0.0.1:1")
    key = cli(env, "orgs", "create", "Fuzz")
    drills = PROJECT_ROOT / "tests" / "drills"
    with api_server(env) as api:
        done = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "--config-file",
                str(drills / "schemathesis.toml"),
                "--no-color",
                "run",
                f"{api}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                os.environ.get("FUZZ_EXAMPLES", "10"),
                # One worker: CPython 3.11's ast.parse, which hypothesis calls to describe
                # strategies, is not thread-safe.
                "--workers",
                "1",
                "--seed",
                os.environ.get("FUZZ_SEED", "20261128"),
            ],
            cwd=PROJECT_ROOT,
            env={
                **env,
                "FUZZ_API_KEY": key,
                "SCHEMATHESIS_HOOKS": "tests.drills.fuzz_hooks",
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stdout[-8000:]
    _ = committed  # the fuzzer's data is removed with the rest
