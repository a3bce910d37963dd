"""`python -m bench.refresh [--posts N] [--latency-ms L]`: the refresh engine against its limits.

Runs `Refresher.refresh_due` — the code the worker's sweeps run — end to end on a scratch
database (`viewledger_bench_refresh`, dropped and migrated each run) and Redis database 14:

1. paced: N TikTok + Instagram posts against a stand-in provider (bench/stand_in.py: a real
   child process on 127.0.0.1, answering every request L ms after it came) at the configured
   pacing (default: TikTok batches of 10, 0.5 s after a batch's last answer; Instagram 3 s
   after each answer). Reports
   `schedule_s`, the least time the pacing allows, `wall_s` and `overhead_ratio` = wall /
   schedule, and where a TikTok batch's time goes beside its floor (pause + L): the spread
   of its requests' arrivals and the wait from its last answer to the next batch. Beside
   them, --youtube-posts (1,000) YouTube Shorts, fetched as videos.list batches of 50:
   `youtube_calls` is the quota units they cost (20 per 1,000 posts).
2. pipeline: pauses and latency 0, provider answers served in-process (real-shape bodies via
   an httpx MockTransport), at each of --rss-sizes posts, each in a fresh child process so its
   peak RSS is its own. `pipeline_posts_per_s` is the run at --pipeline-posts.
3. baseline: the same claims, parsing and writes done straight with asyncpg in two round trips
   per batch (bench/refresh_baseline.py) on the same --pipeline-posts; `pipeline_ratio` =
   engine / baseline.

Prints tables and, as the last line, one JSON object with every figure. See bench/README.md.
"""

import argparse
import asyncio
import itertools
import json
import math
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import make_url

from app import heap
from app.db import create_engine, create_sessionmaker
from app.domain.enums import Platform
from app.platforms.http import build_http_client
from app.settings import Settings
from app.workers import lanes
from app.workers.refresher import Refresher
from bench import common, refresh_seed
from bench.load import backends_cpu, backends_delta
from bench.providers import POOL_SIZE, InProcessProviders, Slot, build_pool
from bench.refresh_baseline import Baseline
from bench.sqlprof import StatementTimes

DEFAULT_DATABASE = "viewledger_bench_refresh"
# The keys app.workers.lanes.build uses; on Redis database 14 they are the benchmark's own.
PACE_KEYS = "viewledger:pace:*"


async def clear_pacing(redis: Redis) -> None:
    keys = [key async for key in redis.scan_iter(match=PACE_KEYS)]
    if keys:
        await redis.delete(*keys)


IN_PROCESS_URL = "http://provider.bench.invalid"
PACED_TARGET_SECONDS = 36.0


def bench_settings(database_url: str, provider_url: str, **overrides: Any) -> Settings:
    """Settings as the worker reads them (environment and defaults), pointed at the scratch
    database, Redis database 14 and the benchmark's provider."""
    return Settings(
        database_url=database_url,
        redis_url=common.BENCH_REDIS_URL,
        tiktok_primary_base_url=provider_url,
        tiktok_backup_base_url=provider_url,
        instagram_base_url=provider_url,
        provider_mode="sandbox",
        **overrides,
    )


@dataclass
class EngineRun:
    wall_s: float
    platforms: dict[str, dict[str, Any]]
    cpu_s: float = 0.0  # this process
    postgres_cpu_s: float = 0.0  # the backends serving the scratch database
    machine_busy_s: float = 0.0  # every core, everything
    statements: list[tuple[str, int, float]] = field(default_factory=list)


async def run_engine(
    settings: Settings, http: httpx.AsyncClient, *, profile_sql: bool = False
) -> EngineRun:
    """Both platforms' sweeps at once, as the worker's cron jobs run them, until nothing is due."""
    db = create_engine(settings, writer=True)
    times = StatementTimes()
    if profile_sql:
        times.attach(db)
    redis = Redis.from_url(settings.redis_url)
    try:
        await clear_pacing(redis)
        engine = Refresher(
            create_sessionmaker(db),
            {},
            settings,
            provider_lanes=lanes.build(settings, http, redis),
        )
        await engine.warm()  # as the worker's startup does
        heap.settle(heap.ENGINE)
        database = make_url(settings.database_url).database or ""
        cpu0, busy0 = common.own_cpu_seconds(), common.machine_busy_seconds()
        pg0 = backends_cpu(database)
        start = time.perf_counter()

        async def sweep(platform: Platform) -> tuple[float, Counter[str]]:
            counts = await engine.refresh_due(platform)
            return time.perf_counter() - start, counts

        results = await asyncio.gather(*(sweep(p) for p in Platform))
        wall = time.perf_counter() - start
        cpu, busy = common.own_cpu_seconds() - cpu0, common.machine_busy_seconds() - busy0
        pg = backends_delta(pg0, backends_cpu(database))
    finally:
        await clear_pacing(redis)
        await redis.aclose()
        await db.dispose()
    platforms = {
        p.value: {"wall_s": w, "posts": sum(c.values()), "outcomes": dict(c)}
        for p, (w, c) in zip(Platform, results, strict=True)
    }
    return EngineRun(wall, platforms, cpu, pg, busy, times.top())


# 1. Paced, against the stand-in provider process


def split_paced(posts: int | None, settings: Settings, latency_s: float) -> tuple[int, int]:
    """TikTok and Instagram counts whose schedules come out about equal (both sweeps run at
    once, so neither hides behind the other). Without --posts, ~36 s of schedule each."""
    batch = settings.tiktok_batch_size
    per_batch = latency_s + settings.tiktok_batch_pause_seconds
    spacing = settings.instagram_request_spacing_seconds + latency_s  # one request, one pause
    if posts is None:
        batches = max(1, int(PACED_TARGET_SECONDS / max(per_batch, 1e-3)))
        n_ig = max(1, int(PACED_TARGET_SECONDS / spacing)) if spacing > 0 else batches * batch
        return min(batches * batch, 5000), min(n_ig, 5000)
    tiktok_per_post = per_batch / batch
    n_ig = round(posts * tiktok_per_post / (tiktok_per_post + spacing)) if spacing else posts // 2
    n_ig = min(max(n_ig, 1), posts - 1)
    return posts - n_ig, n_ig


def schedules(
    n_tt: int, n_ig: int, settings: Settings, latency_s: float, n_yt: int = 0
) -> dict[str, dict[str, float]]:
    """The least time the pacing allows. `issue`: the issue's formula (batches x (L + pause);
    requests x (L + spacing), each request's spacing counted from its answer). `strict`:
    without the pause after the last batch or the last request, which nothing needs (the
    truly least time)."""
    batches = math.ceil(n_tt / settings.tiktok_batch_size)
    pause = settings.tiktok_batch_pause_seconds
    spacing = settings.instagram_request_spacing_seconds
    calls = math.ceil(n_yt / settings.youtube_batch_size)  # one request (1 unit) per batch
    yt_pause = settings.youtube_batch_pause_seconds
    return {
        "youtube": {
            "issue": calls * (latency_s + yt_pause),
            "strict": calls * latency_s + max(calls - 1, 0) * yt_pause,
        },
        "tiktok": {
            "issue": batches * (latency_s + pause),
            "strict": batches * latency_s + max(batches - 1, 0) * pause,
        },
        "instagram": {
            "issue": n_ig * (latency_s + spacing),
            "strict": n_ig * latency_s + max(n_ig - 1, 0) * spacing,
        },
    }


def _after_answers(entries: list[dict[str, Any]], provider: str, latency_s: float) -> list[float]:
    """Time from the provider's answer to one request (its arrival plus the latency the
    stand-in adds before answering) to the arrival of the next: what a provider that allows
    one request per spacing checks."""
    starts = sorted(e["monotonic"] for e in entries if e["provider"] == provider)
    return [b - (a + latency_s) for a, b in itertools.pairwise(starts)]


def _batch_parts(
    entries: list[dict[str, Any]], provider: str, group: int, latency_s: float
) -> tuple[list[float], list[float]]:
    """Where a batch's time goes, from the provider's log: the spread of its requests'
    arrivals (first to last: the client sending them), and the time from its last answer
    (last arrival plus the latency) to the next batch's first arrival (the pause, plus the
    gate, scheduling and write hand-off)."""
    starts = sorted(e["monotonic"] for e in entries if e["provider"] == provider)
    batches = [starts[i : i + group] for i in range(0, len(starts), group)]
    spread = [b[-1] - b[0] for b in batches]
    after = [b[0] - (a[-1] + latency_s) for a, b in itertools.pairwise(batches)]
    return spread, after


TIKTOK_PRIMARY_PATH = "/api/"


def _client_hooks(log: list[tuple[str, float]]) -> dict[str, list[Any]]:
    """httpx hooks noting when the engine sends each TikTok primary request and when its
    answer's headers reach it, on the machine's monotonic clock (the stand-in's too)."""

    async def sent(request: httpx.Request) -> None:
        if request.url.path == TIKTOK_PRIMARY_PATH:
            log.append(("send", time.monotonic()))

    async def answered(response: httpx.Response) -> None:
        if response.request.url.path == TIKTOK_PRIMARY_PATH:
            log.append(("answer", time.monotonic()))

    return {"request": [sent], "response": [answered]}


def _engine_parts(
    log: list[tuple[str, float]], group: int, pause_s: float, latency_s: float
) -> dict[str, dict[str, float] | None]:
    """A TikTok batch's time beyond its floor, seen from the engine: sending its requests
    (first to last send), the stand-in's time beyond its latency (last send to last answer,
    minus L: the provider's share, not the engine's), and the engine's own time from the last
    answer to the next batch's first send beyond the pause (gate, hand-off, scheduling)."""
    sends = sorted(t for kind, t in log if kind == "send")
    answers = sorted(t for kind, t in log if kind == "answer")
    if len(sends) != len(answers):  # retries or failures: batches cannot be told apart
        return {}
    out = [sends[i : i + group] for i in range(0, len(sends), group)]
    back = [answers[i : i + group] for i in range(0, len(answers), group)]
    return {
        "send_spread_s": _stats([b[-1] - b[0] for b in out]),
        "stand_in_beyond_latency_s": _stats(
            [a[-1] - b[-1] - latency_s for a, b in zip(back, out, strict=True)]
        ),
        "answer_spread_s": _stats([a[-1] - a[0] for a in back]),
        "first_answer_beyond_latency_s": _stats(
            [a[0] - b[0] - latency_s for a, b in zip(back, out, strict=True)]
        ),
        "engine_between_batches_s": _stats(
            [nxt[0] - a[-1] - pause_s for a, nxt in zip(back, out[1:], strict=False)]
        ),
    }


def _gaps(entries: list[dict[str, Any]], provider: str, group: int) -> list[float]:
    """Time between the starts of consecutive batches (TikTok) or requests (Instagram)."""
    starts = sorted(e["monotonic"] for e in entries if e["provider"] == provider)
    firsts = starts[::group]
    return [b - a for a, b in itertools.pairwise(firsts)]


async def paced(args: argparse.Namespace, url: str) -> dict[str, Any]:
    latency_s = args.latency_ms / 1000
    stand_in_url = f"http://127.0.0.1:{args.sandbox_port}"
    settings = bench_settings(url, stand_in_url)
    n_tt, n_ig = split_paced(args.posts, settings, latency_s)
    n_yt = args.youtube_posts
    now = datetime.now(UTC)
    pools = {
        Platform.TIKTOK: build_pool(Platform.TIKTOK, n_tt, now),
        Platform.INSTAGRAM: build_pool(Platform.INSTAGRAM, n_ig, now),
        Platform.YOUTUBE: build_pool(Platform.YOUTUBE, n_yt, now),
    }
    await refresh_seed.seed(
        common.asyncpg_dsn(url),
        {p: [(s.handle, s.user_id) for s in pool] for p, pool in pools.items()},
        {Platform.TIKTOK: n_tt, Platform.INSTAGRAM: n_ig, Platform.YOUTUBE: n_yt},
        now,
    )
    common.free_port_or_fail(args.sandbox_port)
    await asyncio.to_thread(common.wait_for_quiet, args.quiet_wait)
    stand_in_args = [
        *(common.python(), "-m", "bench.stand_in", "--port", str(args.sandbox_port)),
        *("--now", now.isoformat(), "--tiktok", str(n_tt), "--instagram", str(n_ig)),
        *("--youtube", str(n_yt)),
    ]
    with common.child_process(stand_in_args, env=dict(os.environ), log_name="stand-in") as (
        proc,
        _,
    ):
        common.wait_for_port(args.sandbox_port, proc)
        async with httpx.AsyncClient(base_url=stand_in_url, timeout=10) as admin:
            (
                await admin.post("/__sandbox/faults", json={"latency_ms": args.latency_ms})
            ).raise_for_status()
            (await admin.delete("/__sandbox/requests")).raise_for_status()
            stand_in_cpu0 = common.cpu_seconds(proc.pid)
            client_log: list[tuple[str, float]] = []
            async with build_http_client(settings) as http:
                http.event_hooks = _client_hooks(client_log)
                result = await run_engine(settings, http)
            stand_in_cpu = common.cpu_seconds(proc.pid) - stand_in_cpu0
            log = (await admin.get("/__sandbox/requests")).json()["requests"]
    sched = schedules(n_tt, n_ig, settings, latency_s, n_yt)
    schedule_s = max(s["issue"] for s in sched.values())
    strict_s = max(s["strict"] for s in sched.values())
    tt_gaps = _gaps(log, "tiktok_primary", settings.tiktok_batch_size)
    ig_gaps = _gaps(log, "instagram", 1)
    ig_after = _after_answers(log, "instagram", latency_s)
    floor_s = settings.tiktok_batch_pause_seconds + latency_s  # a batch start per (pause + L)
    tt_spread, tt_after = _batch_parts(log, "tiktok_primary", settings.tiktok_batch_size, latency_s)
    fetched = Counter(e["provider"] for e in log)
    return {
        "tiktok_posts": n_tt,
        "instagram_posts": n_ig,
        "youtube_posts": n_yt,
        # YouTube's budget is quota: a videos.list call (1 unit) per batch of up to 50.
        "youtube_calls": fetched.get("youtube", 0),
        "youtube_units_per_1000_posts": round(fetched.get("youtube", 0) * 1000 / n_yt, 2)
        if n_yt
        else None,
        "latency_ms": args.latency_ms,
        "tiktok_batch_pause_s": settings.tiktok_batch_pause_seconds,
        "instagram_spacing_s": settings.instagram_request_spacing_seconds,
        "schedule_s": round(schedule_s, 3),
        "strict_schedule_s": round(strict_s, 3),
        "wall_s": round(result.wall_s, 3),
        "overhead_ratio": round(result.wall_s / schedule_s, 4),
        "strict_overhead_ratio": round(result.wall_s / strict_s, 4),
        "platforms": {
            p: {
                **v,
                "schedule_s": round(sched[p]["issue"], 3),
                "strict_schedule_s": round(sched[p]["strict"], 3),
                "wall_s": round(v["wall_s"], 3),
                "overhead_ratio": round(v["wall_s"] / sched[p]["issue"], 4)
                if sched[p]["issue"]
                else None,
            }
            for p, v in result.platforms.items()
        },
        "provider_requests": dict(fetched),
        "cores_used": {
            "engine": round(result.cpu_s / result.wall_s, 3),
            "postgres": round(result.postgres_cpu_s / result.wall_s, 3),
            "stand_in": round(stand_in_cpu / result.wall_s, 3),
            "other": round(
                max(
                    result.machine_busy_s - result.cpu_s - result.postgres_cpu_s - stand_in_cpu,
                    0.0,
                )
                / result.wall_s,
                3,
            ),
        },
        "tiktok_batch_interval_s": _stats(tt_gaps),
        "tiktok_batch_floor_s": round(floor_s, 4),
        "tiktok_batch_overhead": round(statistics.mean(tt_gaps) / floor_s, 4)
        if tt_gaps and floor_s
        else None,
        "tiktok_batch_spread_s": _stats(tt_spread),
        "tiktok_engine_parts": _engine_parts(
            client_log, settings.tiktok_batch_size, settings.tiktok_batch_pause_seconds, latency_s
        ),
        "tiktok_after_answer_s": _stats(tt_after),
        "instagram_interval_s": _stats(ig_gaps),
        "instagram_after_answer_s": _stats(ig_after),
    }


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "min": round(min(values), 4),
        "mean": round(sum(values) / len(values), 4),
        "max": round(max(values), 4),
    }


# 2. Pipeline, in a fresh child process per size


def split_pipeline(n: int, instagram_share: float) -> tuple[int, int]:
    n_ig = round(n * instagram_share)
    return n - n_ig, n_ig


def pipeline_slots() -> dict[Platform, list[tuple[str, str]]]:
    return {
        p: [(s.handle, s.user_id) for s in build_pool(p, POOL_SIZE)]
        for p in (Platform.TIKTOK, Platform.INSTAGRAM)
    }


async def child_pipeline(url: str) -> dict[str, Any]:
    """In the child: run the engine over what the parent seeded, then report."""
    providers = InProcessProviders(POOL_SIZE)
    settings = bench_settings(
        url, IN_PROCESS_URL, tiktok_batch_pause_seconds=0, instagram_request_spacing_seconds=0
    )
    # The worker's client, with the in-process transport under it.
    http = build_http_client(settings, providers.transport())
    async with http:
        result = await run_engine(settings, http, profile_sql=True)
    posts = sum(v["posts"] for v in result.platforms.values())
    return {
        "posts": posts,
        "wall_s": result.wall_s,
        "posts_per_s": posts / result.wall_s,
        "platforms": result.platforms,
        "child_cpu_s": result.cpu_s,
        "postgres_cpu_s": result.postgres_cpu_s,
        "other_cpu_s": max(result.machine_busy_s - result.cpu_s - result.postgres_cpu_s, 0.0),
        "provider_requests": providers.requests,
        "statements": result.statements,
        "peak_rss_mb": common.peak_rss_mb(),
    }


async def pipeline_at(
    url: str, n: int, share: float, limit_s: float, quiet_wait: float
) -> dict[str, Any]:
    n_tt, n_ig = split_pipeline(n, share)
    await refresh_seed.seed(
        common.asyncpg_dsn(url),
        pipeline_slots(),
        {Platform.TIKTOK: n_tt, Platform.INSTAGRAM: n_ig},
        datetime.now(UTC),
    )
    await asyncio.to_thread(common.wait_for_quiet, quiet_wait)
    args = [common.python(), "-m", "bench.refresh", "--child-pipeline", url]
    with common.child_process(args, env=dict(os.environ), log_name=f"pipeline-{n}") as (
        proc,
        log,
    ):
        try:
            await asyncio.to_thread(proc.wait, limit_s)
        except Exception:
            return {"posts": n, "error": f"did not finish within {limit_s:.0f}s (killed)"}
        output = (await asyncio.to_thread(Path(log).read_text)).strip().splitlines()
    figures = common.figures_in(output)
    if proc.returncode != 0 or figures is None:
        return {"posts": n, "error": f"child exited {proc.returncode}: {output[-5:]}"}
    figures["tiktok_posts"], figures["instagram_posts"] = n_tt, n_ig
    figures.update(await written(url))
    return figures


async def written(url: str) -> dict[str, int]:
    """What a run left in the database: the check that engine and baseline did the same work."""
    import asyncpg

    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM stats_snapshots) AS snapshots,"
            " (SELECT count(*) FROM post_events) AS events,"
            " (SELECT count(*) FROM posts WHERE last_refreshed_at IS NULL) AS not_refreshed,"
            " (SELECT count(*) FROM posts WHERE lease_expires_at IS NOT NULL) AS leased"
        )
        return dict(row)
    finally:
        await conn.close()


# 3. Baseline


async def baseline(url: str, n: int, share: float, quiet_wait: float) -> dict[str, Any]:
    n_tt, n_ig = split_pipeline(n, share)
    now = datetime.now(UTC)
    pools: dict[Platform, list[Slot]] = {
        p: build_pool(p, POOL_SIZE, now) for p in (Platform.TIKTOK, Platform.INSTAGRAM)
    }
    await refresh_seed.seed(
        common.asyncpg_dsn(url),
        {p: [(s.handle, s.user_id) for s in pool] for p, pool in pools.items()},
        {Platform.TIKTOK: n_tt, Platform.INSTAGRAM: n_ig},
        now,
    )
    settings = bench_settings(
        url, IN_PROCESS_URL, tiktok_batch_pause_seconds=0, instagram_request_spacing_seconds=0
    )
    runner = Baseline(common.asyncpg_dsn(url), settings, pools, lambda: datetime.now(UTC))
    await asyncio.to_thread(common.wait_for_quiet, quiet_wait)
    database = make_url(url).database or ""
    cpu0, busy0, pg0 = (
        common.own_cpu_seconds(),
        common.machine_busy_seconds(),
        backends_cpu(database),
    )
    marks: dict[str, Any] = {}

    def measure() -> None:  # when the sweeps are done, before the connections close
        marks.update(
            pg=backends_cpu(database),
            cpu=common.own_cpu_seconds(),
            busy=common.machine_busy_seconds(),
        )

    wall, totals = await runner.run(measure)
    cpu, busy = marks["cpu"] - cpu0, marks["busy"] - busy0
    pg = backends_delta(pg0, marks["pg"])
    posts = sum(t.posts for t in totals.values())
    return {
        "posts": posts,
        "wall_s": wall,
        "posts_per_s": posts / wall,
        "cpu_s": cpu,
        "postgres_cpu_s": pg,
        "other_cpu_s": max(busy - cpu - pg, 0.0),
        "batch_size": {p.value: runner.batch_size(p) for p in totals},
        "platforms": {
            p.value: {
                "posts": t.posts,
                "batches": t.batches,
                "decided": t.decided,
                "claim_s": round(t.claim_s, 3),
                "parse_s": round(t.parse_s, 3),
                "write_s": round(t.write_s, 3),
            }
            for p, t in totals.items()
        },
        **await written(url),
    }


# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.refresh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--posts",
        type=int,
        default=None,
        help="paced run: TikTok + Instagram posts (default: ~36 s of schedule per platform)",
    )
    parser.add_argument(
        "--youtube-posts",
        type=int,
        default=1000,
        help="paced run: YouTube posts beside them (1 quota unit per batch of 50)",
    )
    parser.add_argument("--latency-ms", type=int, default=100, help="the stand-in's answer delay")
    parser.add_argument("--pipeline-posts", type=int, default=100_000)
    parser.add_argument(
        "--rss-sizes",
        default="1000,10000,100000",
        help="pipeline sizes run each in a fresh process for peak RSS (comma-separated)",
    )
    parser.add_argument(
        "--instagram-share", type=float, default=0.5, help="pipeline: share of Instagram posts"
    )
    parser.add_argument(
        "--phases",
        default="paced,pipeline,baseline",
        help="which of paced, pipeline, baseline to run",
    )
    parser.add_argument("--pipeline-timeout", type=float, default=900.0)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each measurement, wait up to this long for the machine to be idle",
    )
    parser.add_argument("--sandbox-port", type=int, default=8901, help="the stand-in's port")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--child-pipeline", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    url = common.database_url(args.database)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    started = time.perf_counter()
    print(f"scratch database {args.database}: recreating and migrating", flush=True)
    await common.recreate_database(url)
    await common.migrate(url)
    figures: dict[str, Any] = {
        "benchmark": "refresh",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {**common.machine(), "postgresql": await common.pg_version(url)},
        "git": common.git_head(),
    }

    if "paced" in phases:
        print("\n== paced: the stand-in provider process, default pacing", flush=True)
        p = await paced(args, url)
        figures["paced"] = p
        rows: list[list[object]] = [
            [
                name,
                v["posts"],
                v["schedule_s"],
                v["strict_schedule_s"],
                v["wall_s"],
                v["overhead_ratio"],
                dict(v["outcomes"]),
            ]
            for name, v in p["platforms"].items()
        ]
        rows.append(
            [
                "all at once",
                p["tiktok_posts"] + p["instagram_posts"] + p["youtube_posts"],
                p["schedule_s"],
                p["strict_schedule_s"],
                p["wall_s"],
                p["overhead_ratio"],
                f"strict ratio {p['strict_overhead_ratio']}",
            ]
        )
        print(
            common.table(
                ["platform", "posts", "schedule_s", "strict_s", "wall_s", "ratio", "outcomes"],
                rows,
            )
        )
        print(
            f"latency {args.latency_ms} ms; TikTok batch starts every "
            f"{p['tiktok_batch_interval_s']} s (floor {p['tiktok_batch_floor_s']} s: "
            f"overhead {p['tiktok_batch_overhead']}; requests spread over "
            f"{p['tiktok_batch_spread_s']} s, next batch after the last answer "
            f"{p['tiktok_after_answer_s']} s; seen from the engine {p['tiktok_engine_parts']}); "
            "Instagram requests every "
            f"{p['instagram_interval_s']} s, arriving after the previous answer "
            f"{p['instagram_after_answer_s']} s (spacing {p['instagram_spacing_s']} s); "
            f"YouTube {p['youtube_posts']:,} posts in {p['youtube_calls']} videos.list calls "
            f"({p['youtube_units_per_1000_posts']} quota units per 1,000 posts); "
            f"cores used {p['cores_used']}"
        )

    sizes = sorted({int(s) for s in args.rss_sizes.split(",") if s} | {args.pipeline_posts})
    if "pipeline" in phases:
        print("\n== pipeline: no pauses, no latency, answers in-process; one process per size")
        runs = {}
        for n in sizes:
            print(f"   {n:,} posts ...", flush=True)
            runs[n] = await pipeline_at(
                url, n, args.instagram_share, args.pipeline_timeout, args.quiet_wait
            )
        figures["pipeline"] = {str(n): r for n, r in runs.items()}
        print(
            common.table(
                ["posts", "wall_s", "posts/s", "tiktok/s", "instagram/s", "cpu_engine",
                 "cpu_pg", "cpu_other", "peak_rss_mb", "snapshots", "events"],
                [
                    [
                        n,
                        r.get("wall_s", "-"),
                        r.get("posts_per_s", r.get("error", "-")),
                        _rate(r, "tiktok"),
                        _rate(r, "instagram"),
                        _per_s(r, "child_cpu_s"),
                        _per_s(r, "postgres_cpu_s"),
                        _per_s(r, "other_cpu_s"),
                        r.get("peak_rss_mb", "-"),
                        r.get("snapshots", "-"),
                        r.get("events", "-"),
                    ]
                    for n, r in runs.items()
                ],
            )
        )  # fmt: skip
        top = runs[args.pipeline_posts].get("statements") or []
        if top:
            print(f"\nwhere the engine's database time went at {args.pipeline_posts:,} posts:")
            print(
                common.table(
                    ["statement", "calls", "total_s", "ms/call"],
                    [[sql, n, t, 1000 * t / n] for sql, n, t in top],
                )
            )

    if "baseline" in phases:
        print(f"\n== baseline: asyncpg, two round trips per batch, {args.pipeline_posts:,} posts")
        b = await baseline(url, args.pipeline_posts, args.instagram_share, args.quiet_wait)
        figures["baseline"] = b
        print(
            common.table(
                ["platform", "posts", "batches", "claim_s", "parse_s", "write_s", "decided"],
                [
                    [p, v["posts"], v["batches"], v["claim_s"], v["parse_s"], v["write_s"],
                     v["decided"]]
                    for p, v in b["platforms"].items()
                ],
            )
        )  # fmt: skip
        print(
            f"wall {b['wall_s']:.2f} s, {b['posts_per_s']:,.0f} posts/s, "
            f"snapshots {b['snapshots']:,}, events {b['events']:,}; cores used: "
            f"baseline {_per_s(b, 'cpu_s'):.2f}, postgres {_per_s(b, 'postgres_cpu_s'):.2f}, "
            f"other {_per_s(b, 'other_cpu_s'):.2f}"
        )

    summary = _summary(figures, args, sizes)
    print("\n== figures")
    print(
        common.table(
            ["figure", "value", "target"],
            [[k, v, TARGETS.get(k, "")] for k, v in summary.items()],
        )
    )
    return {
        **summary,
        "latency_ms": args.latency_ms,
        "paced_posts": _paced_posts(figures),
        "date": figures["date"],
        "machine": figures["machine"],
        "git": figures["git"],
        "run_s": round(time.perf_counter() - started, 1),
    }


# Issue 24's (items 1 and 2).
TARGETS = {
    "overhead_ratio": "<= 1.01",
    "pipeline_posts_per_s": ">= 3,000 at 100,000",
    "pipeline_ratio": ">= 0.3",
    "peak_rss_mb": "<= 110 at 100,000",
    "rss_growth_10k_to_100k": "< 0.20",
}


def _paced_posts(figures: dict[str, Any]) -> dict[str, int] | None:
    p = figures.get("paced")
    return {"tiktok": p["tiktok_posts"], "instagram": p["instagram_posts"]} if p else None


def _per_s(run: dict[str, Any], key: str) -> float:
    """CPU seconds per second of wall time: the share of a core (nan when unknown)."""
    return float(run[key] / run["wall_s"]) if key in run and run.get("wall_s") else math.nan


def _rate(run: dict[str, Any], platform: str) -> object:
    p = run.get("platforms", {}).get(platform)
    return p["posts"] / p["wall_s"] if p and p["wall_s"] else "-"


def _summary(figures: dict[str, Any], args: argparse.Namespace, sizes: list[int]) -> dict[str, Any]:
    s: dict[str, Any] = {}
    if p := figures.get("paced"):
        s["schedule_s"] = p["schedule_s"]
        s["wall_s"] = p["wall_s"]
        s["overhead_ratio"] = p["overhead_ratio"]
        s["strict_overhead_ratio"] = p["strict_overhead_ratio"]
    runs = figures.get("pipeline", {})
    main = runs.get(str(args.pipeline_posts), {})
    if "posts_per_s" in main:
        s["pipeline_posts"] = args.pipeline_posts
        s["pipeline_posts_per_s"] = round(main["posts_per_s"], 1)
    if (b := figures.get("baseline")) and "posts_per_s" in main:
        s["db_baseline_posts_per_s"] = round(b["posts_per_s"], 1)
        s["pipeline_ratio"] = round(main["posts_per_s"] / b["posts_per_s"], 3)
    elif b:
        s["db_baseline_posts_per_s"] = round(b["posts_per_s"], 1)
    rss = {
        str(n): round(runs[str(n)]["peak_rss_mb"], 1)
        for n in sizes
        if "peak_rss_mb" in runs.get(str(n), {})
    }
    if rss:
        s["peak_rss_mb"] = rss
    if "10000" in rss and "100000" in rss:
        s["rss_growth_10k_to_100k"] = round(rss["100000"] / rss["10000"] - 1, 3)
    return s


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child_pipeline:
        print(json.dumps(asyncio.run(child_pipeline(args.child_pipeline))), flush=True)
        return
    figures = asyncio.run(main_async(args))
    common.last_line(figures)


if __name__ == "__main__":
    main()
