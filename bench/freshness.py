"""`python -m bench.freshness [--posts N] [--speed F] [--hours H]`: keeping a million videos
fresh, time-compressed.

N tracked posts (--youtube-share YouTube, 10% by default; of the rest 80% TikTok, 20%
Instagram; publish ages spread over 0-30 days; statuses by
age: tracking under 7 days, then finalized, paid, pending_cpm or rejected), seeded in a
steady state (each post last fetched somewhere within its interval), then a simulated
`--hours` (24) with the real engine: `Refresher.refresh_due` on every provider lane
(app.workers.lanes), the real claims, Redis pacing, writes and deadline sweep. Time runs
`--speed` times faster than the wall clock: the engine's clock is simulated, and every pause
(TikTok's 0.5 s between batches, Instagram's 3 s between requests, YouTube's 0.2 s between
videos.list batches of 50, the provider's latency, the sweep interval) is divided by the same
factor. A YouTube lane's capacity is its key's daily quota (10,000 units, 50 posts a unit).
Providers answer in-process in the sandbox's shapes (bench/providers.py), after the scaled latency.

Two scenarios, each in `--processes` fresh child processes (1; each one's peak RSS is its
own) on a fresh copy of the seeded database (`viewledger_bench_capacity`, Redis db 9):
- sized: per provider, the lanes the schedule needs (utilisation at most 0.9);
- half: half of those lanes (at least one).
Two or more processes run as that many workers do: each runs every provider's sweeps on
every lane, the lanes paced together in Redis and the posts claimed in PostgreSQL; arq's
cron ticks (a provider's refresh every 10 s, the deadline sweep) each run on one process.
`--compare-processes 1,2` runs each scenario at each count on the same seed, side by side.

Prints, per scenario, staleness p50/p99/max per class against its interval (the worst of
the samples taken every `--sample-hours`), the deadline decisions (when the stats they used
were observed, relative to the deadline), lanes and capacity, and peak memory; the last
line is JSON. See bench/README.md.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis

from app.db import create_engine, create_sessionmaker, session_scope
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.platforms.http import USER_AGENT
from app.settings import Settings
from app.workers import capacity, deadline_sweep, lanes, refresher
from app.workers.refresher import Refresher
from bench import common, refresh_seed
from bench.load import backends_cpu, backends_delta
from bench.providers import POOL_SIZE, asked, build_pool, json_answer, post_id

SEED_DATABASE = "viewledger_bench_capacity_seed"
RUN_DATABASE = "viewledger_bench_capacity"
# Flushed before each scenario: its own database (BENCH_REDIS_URL moves it, as for the others).
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
PROVIDER_URL = "http://provider.bench.invalid"
DAY_S = 86_400
WINDOW_S = 30 * DAY_S
# Statuses after the 7-day deadline, by share (per hundred): what a campaign's history holds.
SETTLED_SHARES = {"finalized": 50, "paid": 20, "pending_cpm": 5, "rejected": 25}


def age_seconds(g: int) -> int:
    """Post g's publish age at the start, spread over 0-30 days (the seed's SQL does the same)."""
    return (g * 2654435761) % (WINDOW_S * 1000) // 1000


_AGE_SQL = f"(((g::bigint * 2654435761) % {WINDOW_S * 1000}) / 1000)"
_POSTS = """
INSERT INTO posts (id, organization_id, campaign_id, creator_id, platform, platform_post_id,
                   url, status, cpm_tier_id, published_at, created_at, updated_at, views,
                   locked_views, earnings, finalized_at, paid_at, last_refreshed_at,
                   next_refresh_at)
SELECT {uuid}, ($1::uuid[])[g % $3 + 1], ($2::uuid[])[g % $3 + 1],
       ($4::uuid[])[(g % $3) * $5 + g % $5 + 1], $6, x.pid, $7 || x.pid || $8,
       s.status, ($9::uuid[])[g % $3 + 1], x.published, x.published, $10::timestamptz,
       s.views, s.locked, s.earnings, s.finalized, s.paid, x.last,
       CASE WHEN s.status = 'rejected' THEN NULL
            WHEN s.status = 'tracking'
              THEN least(x.last + s.every, x.published + interval '7 days')
            -- The engine's next_refresh: none when the next fetch would fall outside the
            -- 30-day window (else such posts stay due forever, and every claim reads past them).
            WHEN x.last + s.every >= x.published + interval '30 days' THEN NULL
            ELSE x.last + s.every END
FROM generate_series(0, $11::int - 1) AS g,
     LATERAL (SELECT {pid} AS pid,
                     $10::timestamptz - {age} * interval '1 second' AS published,
                     {age} AS age_s, (g::bigint * 40503) % 100 AS pick,
                     ((g::bigint * 9973) % 10007) / 10007.0 AS u) AS x0,
     LATERAL (SELECT x0.*, CASE WHEN x0.age_s < 7 * 86400 THEN 'tracking'
                                WHEN x0.pick < 50 THEN 'finalized'
                                WHEN x0.pick < 70 THEN 'paid'
                                WHEN x0.pick < 75 THEN 'pending_cpm'
                                ELSE 'rejected' END AS st) AS x1,
     LATERAL (SELECT x1.*, $10::timestamptz
                - x1.u * (CASE WHEN x1.st IN ('tracking', 'pending_cpm') THEN 6 ELSE 24 END)
                  * interval '1 hour' AS last) AS x,
     LATERAL (SELECT x.st AS status,
                     CASE WHEN x.st IN ('tracking', 'pending_cpm') THEN interval '6 hours'
                          ELSE interval '24 hours' END AS every,
                     CASE WHEN x.st = 'tracking' THEN 800 ELSE 5000 END AS views,
                     CASE WHEN x.st IN ('finalized', 'paid', 'pending_cpm') THEN 5000 END
                       AS locked,
                     CASE WHEN x.st IN ('finalized', 'paid') THEN 22.50 END AS earnings,
                     CASE WHEN x.st IN ('finalized', 'paid')
                          THEN x.published + interval '7 days' END AS finalized,
                     CASE WHEN x.st = 'paid' THEN x.published + interval '8 days' END AS paid
             ) AS s
"""


YOUTUBE_SHARE = 0.1


def split(posts: int, youtube_share: float = YOUTUBE_SHARE) -> dict[Platform, int]:
    n_yt = round(posts * youtube_share)
    n_tt = round((posts - n_yt) * 0.8)
    return {Platform.TIKTOK: n_tt, Platform.INSTAGRAM: posts - n_yt - n_tt, Platform.YOUTUBE: n_yt}


async def seed(
    url: str, posts: int, t0: datetime, youtube_share: float = YOUTUBE_SHARE
) -> dict[str, Any]:
    await common.recreate_database(url)
    await common.migrate(url)
    slots = {p: [(s.handle, s.user_id) for s in build_pool(p, POOL_SIZE)] for p in Platform}
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        tenants = await refresh_seed.seed_tenants(conn, slots)
        for platform, n in split(posts, youtube_share).items():
            pid, prefix, suffix, offset = refresh_seed.POST_SQL[platform]
            base_ms = int(t0.timestamp() * 1000) + offset * 10
            sql = _POSTS.format(
                uuid=refresh_seed.UUID7_SQL.format(
                    ms=f"{base_ms} + g", seed=f"g::text || '{platform.value}'"
                ),
                pid=pid,
                age=_AGE_SQL,
            )
            await conn.execute(
                sql,
                tenants.organizations,
                tenants.campaigns,
                len(tenants.organizations),
                tenants.creators[platform],
                POOL_SIZE,
                platform.value,
                prefix,
                suffix,
                tenants.tiers,
                t0,
                n,
            )
        await conn.execute("VACUUM ANALYZE")
        rows = await conn.fetch(
            "SELECT platform, status, count(*) AS n FROM posts GROUP BY 1, 2 ORDER BY 1, 2"
        )
    finally:
        await conn.close()
    return {f"{r['platform']}:{r['status']}": r["n"] for r in rows}


# What the schedule needs and what a lane does, at the seed's (unscaled) pace.


def demand_per_hour(counts: dict[str, int], platform: Platform) -> float:
    """Fetches per hour: active posts every 6 h, settled daily (the capacity figure's rule;
    posts leaving the 30-day window over the day make it a little lower)."""
    p = platform.value
    active = counts.get(f"{p}:tracking", 0) + counts.get(f"{p}:pending_cpm", 0)
    settled = counts.get(f"{p}:finalized", 0) + counts.get(f"{p}:paid", 0)
    return active / 6 + settled / 24


def per_lane(platform: Platform, latency_s: float) -> float:
    """Fetches per hour of one lane (YouTube: its daily quota's batches spread over the day)."""
    real = Settings(tiktok_batch_latency_seconds=latency_s)
    return lanes.fetches_per_hour(real, platform, 1)


def sized_lanes(counts: dict[str, int], latency_s: float) -> dict[Platform, int]:
    return {
        p: max(1, math.ceil(demand_per_hour(counts, p) / 0.9 / per_lane(p, latency_s)))
        for p in Platform
    }


def capacity_ratio(n: int, platform: Platform, latency_s: float, demand: float) -> float | None:
    return round(n * per_lane(platform, latency_s) / demand, 3) if demand else None


# The fake provider: the sandbox's shapes, each post's own publish time, scaled latency.

_CREATE = re.compile(rb'"create_time":\d+')
_TAKEN = re.compile(rb'"taken_at_timestamp":\d+')
_PUBLISHED = re.compile(rb'"publishedAt":"[^"]*"')
_YOUTUBE_ID = re.compile(r"Yt(\d{8})A")
# Scheduling as the worker's (app/workers/worker.py): arq cron ticks every sweep interval
# (SWEEP_INTERVAL_SECONDS, 10 s) for each provider's refresh, every 10 minutes here for the
# deadline sweep; a tick runs once across the processes, on whichever polls first.
SWEEP_INTERVAL_S = 10
DEADLINE_INTERVAL_S = 600
ARQ_POLL_S = 0.5
BENCH_PREFIX = "bench:freshness"
CRON_PREFIX = f"{BENCH_PREFIX}:cron"
CRON_KEY_MS = 3_600_000
LANE_PREFIXES = {Platform.TIKTOK: "tt-", Platform.INSTAGRAM: "ig-", Platform.YOUTUBE: "yt-"}


class FakeProviders:
    def __init__(self, t0: datetime, delay_s: float) -> None:
        self.tiktok = [s.body for s in build_pool(Platform.TIKTOK, POOL_SIZE)]
        self.instagram = [s.body for s in build_pool(Platform.INSTAGRAM, POOL_SIZE)]
        self.youtube = [s.body for s in build_pool(Platform.YOUTUBE, POOL_SIZE)]
        self.t0 = int(t0.timestamp())
        self.delay_s = delay_s
        self.requests = 0
        self.by_platform = {p.value: 0 for p in Platform}
        self.by_lane: dict[str, int] = {}  # by the lane's key (tt-N, ig-N)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        platform = {"/api/": Platform.TIKTOK, "/youtube/v3/videos": Platform.YOUTUBE}.get(
            request.url.path, Platform.INSTAGRAM
        )
        self.by_platform[platform.value] += 1
        key = (
            request.headers.get("x-api-key")
            or request.headers.get("x-rapidapi-key")
            or request.url.params.get("key")
            or "-"
        )
        self.by_lane[key] = self.by_lane.get(key, 0) + 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        match asked(request):
            case (Platform.TIKTOK, g):
                published = b'"create_time":%d' % (self.t0 - age_seconds(g))
                return json_answer(_CREATE.sub(published, self.tiktok[g % POOL_SIZE], count=1))
            case (Platform.INSTAGRAM, g):
                published = b'"taken_at_timestamp":%d' % (self.t0 - age_seconds(g))
                return json_answer(_TAKEN.sub(published, self.instagram[g % POOL_SIZE], count=1))
        if platform is Platform.YOUTUBE:
            return json_answer(self._youtube(request.url.params.get("id", "")))
        return httpx.Response(404, content=b'{"message":"not found"}')

    def _youtube(self, ids: str) -> bytes:
        """One videos.list answer: an item per id, each the pool slot's, renamed and dated."""
        items = []
        for found in _YOUTUBE_ID.finditer(ids):
            g = int(found.group(1))
            slot = self.youtube[g % POOL_SIZE]
            at = datetime.fromtimestamp(self.t0 - age_seconds(g), UTC)
            published = b'"publishedAt":"%s"' % at.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
            item = _PUBLISHED.sub(published, slot, count=1)
            item = item.replace(
                post_id(Platform.YOUTUBE, g % POOL_SIZE).encode(), found[0].encode()
            )
            items.append(item)
        return b'{"kind":"youtube#videoListResponse","items":[' + b",".join(items) + b"]}"


# One scenario, in a child process.


async def simulate(spec: dict[str, Any]) -> dict[str, Any]:
    speed, hours, t0 = spec["speed"], spec["hours"], datetime.fromisoformat(spec["t0"])
    url, latency_s = spec["url"], spec["latency_s"]
    n_lanes = {Platform(p): n for p, n in spec["lanes"].items()}
    settings = Settings(
        database_url=url,
        redis_url=REDIS_URL,
        tiktok_primary_base_url=PROVIDER_URL,
        tiktok_backup_base_url=PROVIDER_URL,
        instagram_base_url=PROVIDER_URL,
        provider_mode="sandbox",
        # Pauses are wall time: scaled. Leases are simulated time: a claim's lease outlives
        # the writer's real (unscaled) database time.
        tiktok_batch_pause_seconds=0.5 / speed,
        instagram_request_spacing_seconds=3.0 / speed,
        youtube_batch_pause_seconds=0.2 / speed,
        claim_lease_seconds=3600,
        tiktok_primary_api_keys=",".join(f"tt-{i}" for i in range(n_lanes[Platform.TIKTOK])),
        instagram_api_keys=",".join(f"ig-{i}" for i in range(n_lanes[Platform.INSTAGRAM])),
        youtube_api_keys=",".join(f"yt-{i}" for i in range(n_lanes.get(Platform.YOUTUBE, 0))),
    )
    # Claims as large as a real deployment's (the lease is simulated time, the pace wall time).
    real, real_size = Settings(claim_lease_seconds=300), refresher.claim_size
    refresher.claim_size = lambda settings, platform: real_size(real, platform)

    loop = asyncio.get_running_loop()
    start = loop.time()

    def clock() -> datetime:
        return t0 + timedelta(seconds=(loop.time() - start) * speed)

    providers = FakeProviders(t0, latency_s / speed)
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(providers.handle),
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        headers={"user-agent": USER_AGENT},
    )
    index, processes = spec.get("index", 0), spec.get("processes", 1)
    # The parent flushed the Redis database: the lanes' pacing and the cron ticks below are
    # shared by every process of the scenario, as they are by a deployment's workers.
    redis = Redis.from_url(REDIS_URL)
    db = create_engine(settings, writer=True)
    sessionmaker = create_sessionmaker(db)
    provider_lanes = lanes.build(settings, http, redis)
    engine = Refresher(sessionmaker, {}, settings, provider_lanes=provider_lanes, clock=clock)
    policy = engine.policy
    end = t0 + timedelta(hours=hours)
    samples: list[dict[str, Any]] = []
    database = url.rsplit("/", 1)[1]
    # Every process's simulated clock starts at the same wall instant, once all are ready.
    start, engine_pids = await start_together(redis, processes)
    await asyncio.sleep(max(start - loop.time(), 0.0))
    # CPU by party (cores), between samples and over the span: the engine processes (all of
    # the scenario's, read from /proc by the first), the PostgreSQL backends serving the run
    # database, and everything else on the machine. A span where an engine process is near
    # 1.0 core measured the CPU, not the schedule. The span's figure adds up the intervals:
    # the pool recycles its connections every 30 wall minutes, and a backend that exits
    # between two marks takes its CPU with it (into `other`). The first process measures the
    # parties; each process measures its own core (`own`).
    cpu_marks: dict[str, Any] = {}
    cpu_spent: Counter[str] = Counter()
    own_max: list[float] = []
    engine_seen: dict[int, float] = {}

    def engines_cpu() -> float:
        # A sibling that has already finished keeps the CPU last seen.
        for pid in engine_pids:
            with contextlib.suppress(OSError):
                engine_seen[pid] = common.cpu_seconds(pid)
        return sum(engine_seen.values())

    def cpu_mark() -> dict[str, Any]:
        mark: dict[str, Any] = {"wall": time.perf_counter(), "own": common.own_cpu_seconds()}
        if index == 0:
            mark |= {
                "engine": engines_cpu(),
                "busy": common.machine_busy_seconds(),
                "pg": backends_cpu(database),
            }
        return mark

    def cpu_since(mark: dict[str, Any], now: dict[str, Any]) -> dict[str, float]:
        wall = max(now["wall"] - mark["wall"], 1e-9)
        engine = now["engine"] - mark["engine"]
        pg = backends_delta(mark["pg"], now["pg"])
        busy = now["busy"] - mark["busy"]
        return {
            "engine": round(engine / wall, 3),
            "postgres": round(pg / wall, 3),
            "other": round(max(busy - engine - pg, 0.0) / wall, 3),
        }

    fetched: dict[str, int] = {}
    sweeps: dict[str, int] = {p.value: 0 for p in Platform}
    running: dict[Platform, asyncio.Task[None]] = {}

    async def sweep(platform: Platform) -> None:
        try:
            counts = await engine.refresh_due(platform)
            fetched[platform.value] = fetched.get(platform.value, 0) + sum(counts.values())
            sweeps[platform.value] += 1
        finally:
            running.pop(platform, None)

    async def refresh(platform: Platform) -> None:
        # As the worker's refresh job (app.workers.worker._refresh): a tick that finds this
        # process's sweep of the platform still running is a no-op.
        if platform not in running:
            running[platform] = asyncio.create_task(sweep(platform))

    async def deadlines() -> None:
        async with session_scope(sessionmaker) as session:
            await deadline_sweep.sweep(session, clock(), policy, timedelta(hours=24))

    async def cron(name: str, every_s: float, job: Callable[[], Awaitable[None]]) -> None:
        # As arq runs the worker's cron jobs across workers: every process offers each tick
        # (the sweep interval, 10 simulated s; the deadline sweep's 10 minutes), under a job
        # id naming the tick, so one process takes it: whichever polls first (a random
        # share of arq's 0.5 s poll delay, scaled). From the start (run_at_startup); ticks
        # the loop was too late for are skipped, as arq skips them.
        tick = 0
        while True:
            at = start + tick * every_s / speed
            await asyncio.sleep(max(at - loop.time(), 0.0) + random.uniform(0, ARQ_POLL_S / speed))
            if await redis.set(f"{CRON_PREFIX}:{name}:{tick}", index, nx=True, px=CRON_KEY_MS):
                await job()
            tick = max(tick + 1, math.ceil((loop.time() - start) * speed / every_s))

    async def sample() -> None:
        mark = cpu_mark()
        last = cpu_marks.get("last")
        cpu = None
        if last is not None:
            wall = mark["wall"] - last["wall"]
            own_max.append(round((mark["own"] - last["own"]) / max(wall, 1e-9), 3))
            if index == 0:
                cpu = cpu_since(last, mark)
                cpu_spent.update({"wall": wall, **{k: v * wall for k, v in cpu.items()}})
        cpu_marks["last"] = mark
        if index != 0:
            return  # the database's staleness is the same from every process: the first reads it
        async with session_scope(sessionmaker) as session:
            figures = await capacity.measure(
                session, clock(), policy, settings, {p: (n, 0) for p, n in n_lanes.items()}
            )
        samples.append(
            {
                "sim_h": round((clock() - t0).total_seconds() / 3600, 2),
                "cpu": cpu,
                "requests": providers.requests,
                **{p.value: f.staleness for p, f in figures.items()},
            }
        )
        worst_p99 = max(
            (
                st.p99_s / st.interval_s
                for f in figures.values()
                for st in f.staleness.values()
                if st.p99_s is not None
            ),
            default=0.0,
        )
        print(
            f"sample at {samples[-1]['sim_h']} h: requests {providers.requests:,} (this "
            f"process), worst p99/interval {worst_p99:.3f}, cpu {cpu}",
            file=sys.stderr,
            flush=True,
        )

    vacuums: Counter[str] = Counter()
    vacuum_conn = await asyncpg.connect(common.asyncpg_dsn(url))
    server_vacuums = await vacuum_conn.fetchval("SHOW autovacuum") == "on"

    async def vacuum() -> None:
        # Every fetch rewrites its post's row (its indexed columns change, so no HOT update)
        # and adds a snapshot and a raw answer. A server without autovacuum (`autovacuum =
        # off`, as in this project's CI PostgreSQL) keeps every dead version and never
        # analyzes: the snapshots table, seeded empty, keeps its empty statistics, so the
        # planner's estimates drift further from the tables as they grow (the worker's
        # plans are made again every DB_WRITER_REPLAN_SECONDS, on those statistics and the
        # tables' sizes). PostgreSQL's cost then grows through the run and measures the missing
        # autovacuum, not the engine. This stands in for autovacuum with its defaults: every
        # naptime (1 min, wall time, as autovacuum's is), a table is vacuumed past 50 + 20%
        # of its rows dead or 1,000 + 20% inserted since, and analyzed past 50 + 10% changed.
        # Its CPU counts as PostgreSQL's. One per server: the first process runs it.
        while True:
            await asyncio.sleep(60)
            due = await vacuum_conn.fetch(
                """
                SELECT relname, vacuum_due FROM (
                    SELECT s.relname,
                           s.n_dead_tup > 50 + 0.2 * c.rows
                           OR s.n_ins_since_vacuum > 1000 + 0.2 * c.rows AS vacuum_due,
                           s.n_mod_since_analyze > 50 + 0.1 * c.rows AS analyze_due
                    FROM pg_stat_user_tables s
                    JOIN LATERAL (SELECT greatest(reltuples, 0) AS rows FROM pg_class
                                  WHERE oid = s.relid) c ON true
                ) t WHERE vacuum_due OR analyze_due
                """
            )
            for row in due:
                command = "VACUUM (ANALYZE)" if row["vacuum_due"] else "ANALYZE"
                await vacuum_conn.execute(f'{command} "{row["relname"]}"')
                vacuums[f"{command.split()[0].lower()} {row['relname']}"] += 1

    # Event-loop lag: how late a 5 ms sleep wakes, in whole ms (a bounded histogram). The
    # engine's pacing sleeps in this loop, and compressed time multiplies any lag by the
    # speed factor: a lag that is noise at 3 s between Instagram requests is not at 3 s / F.
    lag_ms: Counter[int] = Counter()

    async def lag_monitor() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            lag_ms[int((loop.time() - before - 0.005) * 1000)] += 1

    def refresh_job(platform: Platform) -> Callable[[], Awaitable[None]]:
        return lambda: refresh(platform)

    tasks = [
        asyncio.create_task(cron(f"refresh_{p.value}", SWEEP_INTERVAL_S, refresh_job(p)))
        for p in Platform
    ]
    tasks.append(asyncio.create_task(cron("decide_deadlines", DEADLINE_INTERVAL_S, deadlines)))
    tasks.append(asyncio.create_task(lag_monitor()))
    vacuuming = index == 0 and not server_vacuums
    if vacuuming:
        tasks.append(asyncio.create_task(vacuum()))
    wall0 = time.perf_counter()
    try:
        next_sample = t0
        while clock() < end:
            if clock() >= next_sample:
                await sample()
                next_sample += timedelta(hours=spec["sample_hours"])
            await asyncio.sleep(min(1.0, max((end - clock()).total_seconds() / speed, 0.01)))
        await sample()
    finally:
        tasks += running.values()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - wall0
    await vacuum_conn.close(timeout=10)
    await http.aclose()
    await redis.aclose()
    await db.dispose()
    out: dict[str, Any] = {
        "index": index,
        "wall_s": round(wall, 1),
        "requests": providers.requests,
        "requests_by_platform": providers.by_platform,
        "requests_by_lane": providers.by_lane,
        "sweeps_completed": sweeps,
        "processed": fetched,
        "loop_lag_hist": {str(ms): n for ms, n in lag_ms.items()},
        "cpu_own_max_between_samples": max(own_max, default=None),
        "peak_rss_mb": round(common.peak_rss_mb(), 1),
    }
    if index == 0:
        interval_cpu = [s["cpu"] for s in samples if s["cpu"] is not None]
        out |= {
            # What the stand-in for autovacuum vacuumed or analyzed, and how often (None:
            # the server's own autovacuum ran).
            "vacuums": dict(vacuums) if vacuuming else None,
            "staleness": worst(samples),
            "samples": len(samples),
            "cpu_cores": {
                k: round(cpu_spent[k] / max(cpu_spent["wall"], 1e-9), 3)
                for k in ("engine", "postgres", "other")
            },
            "cpu_engine_max_between_samples": max(
                (c["engine"] for c in interval_cpu), default=None
            ),
            "cpu_other_max_between_samples": max((c["other"] for c in interval_cpu), default=None),
        }
    return out


async def start_together(redis: Redis, processes: int) -> tuple[float, list[int]]:
    """Waits for the scenario's other processes (each has built its engine); returns the
    event-loop time at which every process's simulated clock starts, and their pids."""
    await redis.zadd(f"{BENCH_PREFIX}:pids", {str(os.getpid()): time.time()})
    if await redis.incr(f"{BENCH_PREFIX}:ready") == processes:
        await redis.set(f"{BENCH_PREFIX}:start", repr(time.time() + 0.2))
    give_up = time.monotonic() + 120
    while (at := await redis.get(f"{BENCH_PREFIX}:start")) is None:
        if time.monotonic() > give_up:
            raise RuntimeError(f"the scenario's {processes} processes never all started")
        await asyncio.sleep(0.01)
    pids = [int(pid) for pid in await redis.zrange(f"{BENCH_PREFIX}:pids", 0, -1)]
    loop = asyncio.get_running_loop()
    return loop.time() + (float(at) - time.time()), pids


def combine(results: list[dict[str, Any]], hours: float) -> dict[str, Any]:
    """One scenario's figures from its processes' (the first measured the database, the
    machine's CPU and its own; each measured its requests, sweeps, loop lag and memory)."""
    first = next(r for r in results if r["index"] == 0)
    by_platform: Counter[str] = Counter()
    by_lane: Counter[str] = Counter()
    lag: Counter[int] = Counter()
    sweeps: Counter[str] = Counter({p.value: 0 for p in Platform})
    processed: Counter[str] = Counter()
    for r in results:
        by_platform.update(r["requests_by_platform"])
        by_lane.update(r["requests_by_lane"])
        lag.update({int(ms): n for ms, n in r["loop_lag_hist"].items()})
        sweeps.update(r["sweeps_completed"])
        processed.update(r["processed"])
    ordered = sorted(results, key=lambda r: r["index"])
    return {
        "processes": len(results),
        "wall_s": max(r["wall_s"] for r in results),
        "sim_hours": hours,
        "requests": sum(r["requests"] for r in results),
        "requests_per_process": [r["requests"] for r in ordered],
        "requests_per_sim_hour": {p: round(n / hours) for p, n in by_platform.items()},
        # Per lane: a lane far below the others sat idle (per_lane_per_hour is its pace).
        # Every process runs every lane, paced together in Redis: the lane's total.
        "lane_requests_per_sim_hour": {
            p.value: sorted(
                round(n / hours) for key, n in by_lane.items() if key.startswith(LANE_PREFIXES[p])
            )
            for p in Platform
        },
        "sweeps_completed": dict(sweeps),
        "vacuums": first["vacuums"],
        # Over every process's samples together.
        "loop_lag_ms": {"p50": _hq(lag, 0.5), "p99": _hq(lag, 0.99), "max": max(lag, default=None)},
        "processed": dict(processed),
        "staleness": first["staleness"],
        "samples": first["samples"],
        "cpu_cores": first["cpu_cores"],
        # The busiest single process's worst interval: a process near 1.0 measured its CPU.
        "cpu_engine_max_between_samples": max(
            (r["cpu_own_max_between_samples"] for r in results), default=None
        ),
        "cpu_engine_all_max_between_samples": first["cpu_engine_max_between_samples"],
        "cpu_other_max_between_samples": first["cpu_other_max_between_samples"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "peak_rss_mb_per_process": [r["peak_rss_mb"] for r in ordered],
    }


def worst(samples: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per platform and class, the worst p50/p99/max over the samples, against the interval."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for s in samples:
        for p in Platform:
            for name, st in s[p.value].items():
                cur = out.setdefault(p.value, {}).setdefault(
                    name, {"interval_h": st.interval_s / 3600, "posts": st.posts}
                )
                for q in ("p50_s", "p99_s", "max_s"):
                    value = getattr(st, q)
                    if value is not None:
                        cur[q] = max(cur.get(q, 0.0), value)
    for per in out.values():
        for cur in per.values():
            interval = cur["interval_h"] * 3600
            for q in ("p50_s", "p99_s", "max_s"):
                if q in cur:
                    cur[q.replace("_s", "_x")] = round(cur[q] / interval, 3)
    return out


async def deadline_figures(
    url: str, t0: datetime, end: datetime, finalize_days: int
) -> dict[str, Any]:
    """Every post whose deadline fell in the simulated span (10 minutes before its end at the
    latest): whether it was decided, and when the stats it was decided on were observed."""
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            """
            SELECT p.status,
                   extract(epoch FROM s.first_after - d.deadline) AS observed_after_s,
                   extract(epoch FROM d.deadline - s.last_before) AS stale_before_s
            FROM posts p,
                 LATERAL (SELECT p.aged_from + $3 * interval '1 day' AS deadline) d,
                 LATERAL (SELECT min(captured_at) FILTER (WHERE captured_at >= d.deadline)
                                   AS first_after,
                                 max(captured_at) FILTER (WHERE captured_at < d.deadline)
                                   AS last_before
                          FROM stats_snapshots WHERE post_id = p.id) s
            WHERE p.aged_from + $3 * interval '1 day' BETWEEN $1 AND $2
            """,
            t0,
            end - timedelta(minutes=10),
            finalize_days,
        )
    finally:
        await conn.close()
    decided = [r for r in rows if r["status"] != "tracking"]
    after = sorted(
        float(r["observed_after_s"]) for r in decided if r["observed_after_s"] is not None
    )
    return {
        "deadlines": len(rows),
        "decided": len(decided),
        "undecided": len(rows) - len(decided),
        "decided_without_fresh_stats": len(decided) - len(after),
        "observed_after_deadline_p50_s": _q(after, 0.5),
        "observed_after_deadline_p99_s": _q(after, 0.99),
        "observed_after_deadline_max_s": after[-1] if after else None,
        "within_10_min": sum(1 for a in after if a <= 600),
        # Decided in the same transaction as the fetch: the age of the stats each decision
        # used is how long after the deadline they were observed.
        "decision_stats_age_p99_s": _q(after, 0.99),
    }


def _hq(histogram: Counter[int], q: float) -> int | None:
    total, seen = sum(histogram.values()), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= q * total:
            return value
    return None


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1)


# The parent: seed once, run each scenario in a child on a copy.


async def copy_database(seed_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    seed_name = seed_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(common.asyncpg_dsn(common.database_url("postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seed_name}"')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0)
    seed_url, url = common.database_url(SEED_DATABASE), common.database_url(RUN_DATABASE)
    counts_run = process_counts(args)
    print(f"seeding {args.posts:,} posts into {SEED_DATABASE}", flush=True)
    began = time.perf_counter()
    counts = await seed(seed_url, args.posts, t0, args.youtube_share)
    print(f"   seeded in {time.perf_counter() - began:.0f} s: {counts}", flush=True)
    sized = sized_lanes(counts, args.latency_ms / 1000)
    scenarios = {
        "sized": sized,
        "half": {p: max(1, n // 2) for p, n in sized.items()},
    }
    figures: dict[str, Any] = {
        "posts": args.posts,
        "speed": args.speed,
        "sim_hours": args.hours,
        "latency_ms": args.latency_ms,
        # Engine processes per scenario; with --compare-processes, every count run (the
        # first's figures in `scenarios`, the others' in `compared`).
        "processes": counts_run[0] if len(counts_run) == 1 else counts_run,
        "commit": common.git_head(),
        "machine": common.machine(),
        "demand_per_hour": {p.value: round(demand_per_hour(counts, p)) for p in Platform},
        "per_lane_per_hour": {
            p.value: round(per_lane(p, args.latency_ms / 1000)) for p in Platform
        },
        "scenarios": {},
    }
    if len(counts_run) > 1:
        figures["compared"] = {str(n): {} for n in counts_run[1:]}
    for name in args.scenarios.split(","):
        n_lanes = scenarios[name]
        by_count: dict[int, dict[str, Any]] = {}
        for processes in counts_run:
            result = await run_scenario(args, t0, url, seed_url, name, n_lanes, processes)
            result["lanes"] = {p.value: n for p, n in n_lanes.items()}
            result["demand_per_hour"] = figures["demand_per_hour"]
            result["capacity_ratio"] = {
                p.value: capacity_ratio(
                    n_lanes[p], p, args.latency_ms / 1000, demand_per_hour(counts, p)
                )
                for p in Platform
            }
            if processes == counts_run[0]:
                figures["scenarios"][name] = result
            else:
                figures["compared"][str(processes)][name] = result
            by_count[processes] = result
            if "error" not in result:
                report(name, result)
        if len(by_count) > 1:
            side_by_side(name, by_count)
    common.last_line(figures)


def process_counts(args: argparse.Namespace) -> list[int]:
    if not args.compare_processes:
        return [args.processes]
    counts = [int(n) for n in args.compare_processes.split(",")]
    if not counts or min(counts) < 1 or len(set(counts)) != len(counts):
        raise SystemExit("--compare-processes: distinct counts of at least 1, e.g. 1,2")
    return counts


async def run_scenario(
    args: argparse.Namespace,
    t0: datetime,
    url: str,
    seed_url: str,
    name: str,
    n_lanes: dict[Platform, int],
    processes: int,
) -> dict[str, Any]:
    """One scenario on a fresh copy of the seed with `processes` engine processes, each a
    child of its own (its peak RSS is its own) on the same database and Redis, as a
    deployment's workers share them."""
    await copy_database(seed_url, url)
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()
    spec = {
        "url": url,
        "t0": t0.isoformat(),
        "speed": args.speed,
        "hours": args.hours,
        "latency_s": args.latency_ms / 1000,
        "sample_hours": args.sample_hours,
        "lanes": {p.value: n for p, n in n_lanes.items()},
        "processes": processes,
    }
    label = f"{name}, {processes} process{'es' if processes > 1 else ''}"
    print(f"\n== {label}: lanes {spec['lanes']}", flush=True)
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    with contextlib.ExitStack() as stack:
        children = [
            stack.enter_context(
                common.child_process(
                    [
                        common.python(),
                        *("-m", "bench.freshness", "--child"),
                        json.dumps(spec | {"index": i}),
                    ],
                    env=dict(os.environ),
                    log_name=f"freshness-{name}-{processes}p{i}",
                )
            )
            for i in range(processes)
        ]
        for i, (proc, log) in enumerate(children):
            await asyncio.to_thread(proc.wait)
            output = (await asyncio.to_thread(Path(log).read_text)).strip().splitlines()
            figures = common.figures_in(output)
            if proc.returncode != 0 or figures is None:
                print("\n".join(output[-20:]))
                failed.append(f"process {i} exited {proc.returncode}")
                continue
            results.append(figures)
    await redis.flushdb()
    await redis.aclose()
    if failed:
        return {"processes": processes, "error": "; ".join(failed)}
    result = combine(results, args.hours)
    end = t0 + timedelta(hours=args.hours)
    result["deadlines"] = await deadline_figures(
        url, t0, end, Policy.from_settings(Settings()).finalize_after_days
    )
    return result


def report(name: str, r: dict[str, Any]) -> None:
    print(
        f"wall {r['wall_s']} s for {r['sim_hours']} simulated h; provider requests "
        f"{r['requests']:,} (per simulated h {r['requests_per_sim_hour']}; demand "
        f"{r['demand_per_hour']}); capacity/demand {r['capacity_ratio']}; peak RSS "
        f"{r['peak_rss_mb']} MB"
    )
    if r["processes"] > 1:
        print(
            f"{r['processes']} engine processes: provider requests each "
            f"{r['requests_per_process']}, peak RSS each {r['peak_rss_mb_per_process']} MB"
        )
    if r.get("vacuums") is not None:
        print(f"autovacuum off on the server; done in its place {r['vacuums']}")
    print(
        f"requests per lane per simulated h {r['lane_requests_per_sim_hour']}; sweeps "
        f"completed {r['sweeps_completed']}"
    )
    c = r["cpu_cores"]
    print(
        f"cpu (cores) engine {c['engine']}, postgres {c['postgres']}, other {c['other']} "
        f"(between samples: one engine process max {r['cpu_engine_max_between_samples']}, "
        f"all {r['cpu_engine_all_max_between_samples']}, other max "
        f"{r['cpu_other_max_between_samples']}); event-loop lag ms {r['loop_lag_ms']}"
    )
    rows = []
    for platform, per in r["staleness"].items():
        for klass, s in per.items():
            rows.append(
                [
                    platform,
                    klass,
                    s["posts"],
                    s["interval_h"],
                    s.get("p50_x"),
                    s.get("p99_x"),
                    s.get("max_x"),
                ]
            )
    print(
        common.table(
            ["platform", "class", "posts", "interval_h", "p50/int", "p99/int", "max/int"], rows
        )
    )
    d = r["deadlines"]
    print(
        f"deadlines {d['deadlines']:,}: decided {d['decided']:,}, undecided {d['undecided']:,}, "
        f"decided without fresh stats {d['decided_without_fresh_stats']:,}; stats observed "
        f"after the deadline p50 {d['observed_after_deadline_p50_s']} s, p99 "
        f"{d['observed_after_deadline_p99_s']} s, max {d['observed_after_deadline_max_s']} s "
        f"(within 10 min: {d['within_10_min']:,})",
        flush=True,
    )


def side_by_side(name: str, by_count: dict[int, dict[str, Any]]) -> None:
    """The same scenario at each process count, a column each: what scaling out changed."""
    counts = sorted(by_count)

    def row(label: str, *path: str) -> list[object]:
        cells: list[object] = [label]
        for n in counts:
            value: Any = by_count[n]
            if "error" in value:
                cells.append(value["error"])
                continue
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            cells.append(value)
        return cells

    rows = [
        row("wall s", "wall_s"),
        row("provider requests", "requests"),
        row("requests per process", "requests_per_process"),
    ]
    for p in Platform:
        rows.append(row(f"{p.value} requests/sim h", "requests_per_sim_hour", p.value))
        rows.append(row(f"{p.value} per lane/sim h", "lane_requests_per_sim_hour", p.value))
    classes = dict.fromkeys(
        (platform, klass)
        for r in by_count.values()
        for platform, per in r.get("staleness", {}).items()
        for klass in per
    )
    for platform, klass in classes:
        rows.append(row(f"{platform} {klass} p99/int", "staleness", platform, klass, "p99_x"))
    rows += [
        row("deadlines decided", "deadlines", "decided"),
        row("deadlines undecided", "deadlines", "undecided"),
        row("decided without fresh stats", "deadlines", "decided_without_fresh_stats"),
        row("observed after deadline p99 s", "deadlines", "observed_after_deadline_p99_s"),
        row("cpu engine (all processes)", "cpu_cores", "engine"),
        row("cpu engine max, one process", "cpu_engine_max_between_samples"),
        row("cpu postgres", "cpu_cores", "postgres"),
        row("cpu other", "cpu_cores", "other"),
        row("peak RSS MB per process", "peak_rss_mb_per_process"),
        row("loop lag p99 ms", "loop_lag_ms", "p99"),
    ]
    print(f"\n== {name}: side by side, same seed", flush=True)
    headers = ["figure", *(f"{n} process{'es' if n > 1 else ''}" for n in counts)]
    print(common.table(headers, rows), flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.freshness", description=__doc__)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument(
        "--youtube-share",
        type=float,
        default=YOUTUBE_SHARE,
        help="share of the posts on YouTube (the rest: 80%% TikTok, 20%% Instagram)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=5.0,
        help="simulated s per wall s (see bench/README.md: the engine must keep the pace)",
    )
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--sample-hours", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=100.0, help="simulated latency")
    parser.add_argument("--scenarios", default="sized,half")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="engine processes per scenario, sharing its database and Redis as workers do",
    )
    parser.add_argument(
        "--compare-processes",
        metavar="P,Q",
        help="run each scenario at each count (e.g. 1,2) on the same seed, printed side by side",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    if arguments.child:
        common.last_line(asyncio.run(simulate(json.loads(arguments.child))))
    else:
        asyncio.run(main(arguments))
