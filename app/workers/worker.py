"""arq wiring. Jobs are sweeps over what PostgreSQL says is due, so a missed, repeated or
killed run is harmless: cron jobs run once per tick across all workers (max_tries=1), and a
sweep already running in this process makes the next tick for that platform a no-op."""

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from arq import cron
from arq import func as arq_function
from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import clock as clocks
from app import heap
from app.db import create_engine, create_sessionmaker, prune_in_batches, session_scope
from app.discord import submit as discord_submit
from app.discord.interactions import Submission
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.platforms.http import build_http_client
from app.platforms.shortlinks import resolver_for
from app.repositories import claims, handle_checks, provenance, runs, watched_accounts
from app.services import post_imports
from app.settings import Settings, get_settings
from app.webhooks import delivery as webhooks
from app.webhooks import retention as webhook_retention
from app.workers import capacity, deadline_sweep, lanes, metrics
from app.workers.handles import HandleChecker
from app.workers.metrics import HEARTBEATS
from app.workers.quota import QuotaState
from app.workers.refresher import Refresher
from app.workers.watcher import Watcher

log = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    """Idempotent: main.py restarts the arq loop after losing Redis, with the same ctx."""
    if "refresher" in ctx:
        return
    settings: Settings = ctx.setdefault("settings", get_settings())
    db_engine = create_engine(settings, writer=True)
    sessionmaker = create_sessionmaker(db_engine)
    http = build_http_client(settings)
    pace_redis = Redis.from_url(settings.redis_url)
    provider_lanes = lanes.build(settings, http, pace_redis)
    clock = clocks.for_settings(settings)
    ctx |= {
        "clock": clock,
        "db_engine": db_engine,
        "sessionmaker": sessionmaker,
        "http": http,
        "pace_redis": pace_redis,
        "refresher": Refresher(
            sessionmaker, {}, settings, provider_lanes=provider_lanes, clock=clock
        ),
        "watcher": Watcher(sessionmaker, provider_lanes, settings, clock=clock),
        "handles": HandleChecker(
            sessionmaker, provider_lanes[Platform.YOUTUBE], settings, clock=clock
        ),
        "running": set(),
        "worker_id": f"{socket.gethostname()}:{os.getpid()}",
    }
    ctx["heartbeat"] = asyncio.create_task(_heartbeat(ctx))
    ctx["webhook_http"] = webhooks.build_http_client(settings)
    ctx["webhooks"] = webhooks.Deliverer(sessionmaker, ctx["webhook_http"], settings, now=clock)
    # Intake (Discord follow-ups, bulk imports): short links and the Discord API.
    ctx["intake_http"] = httpx.AsyncClient(timeout=settings.discord_http_timeout_seconds)
    # The process's one short-link resolver: SHORTLINK_CONCURRENCY bounds every import's
    # links together, served to organizations in turns.
    ctx["shortlinks"] = resolver_for(ctx["intake_http"], settings)
    # Imports running in this process (start_import); arq hands each job a copy of ctx,
    # and this dict is shared by them all.
    ctx["imports"] = {}
    await ctx["refresher"].warm()
    heap.settle(heap.ENGINE)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Only at process exit (main.py), not when the arq loop restarts."""
    ctx["heartbeat"].cancel()
    for task in list(ctx["imports"].values()):
        task.cancel()  # its lease lapses, and another worker's sweep carries on
    with contextlib.suppress(Exception):  # a stopped worker is not a stale one
        await ctx["pace_redis"].zrem(HEARTBEATS, ctx["worker_id"])
    await ctx["http"].aclose()
    await ctx["webhook_http"].aclose()
    await ctx["intake_http"].aclose()
    await ctx["pace_redis"].aclose()
    await ctx["db_engine"].dispose()


async def _heartbeat(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    redis: Redis = ctx["pace_redis"]
    while True:
        try:
            await redis.zadd(HEARTBEATS, {ctx["worker_id"]: time.time()})
            async with session_scope(ctx["sessionmaker"]) as session:
                for platform, lag in (
                    await refresh_lag(session, _now(ctx), ctx["refresher"].policy)
                ).items():
                    metrics.REFRESH_LAG.labels(platform.value).set(lag)
            if time.monotonic() >= ctx.get("capacity_due", 0.0):
                ctx["capacity_due"] = time.monotonic() + settings.capacity_interval_seconds
                await measure_capacity(ctx)
        except Exception as exc:  # an outage must not kill the heartbeat; it shows as stale
            log.warning("heartbeat failed: %r", exc)
        await asyncio.sleep(settings.heartbeat_seconds)


def _now(ctx: dict[str, Any]) -> datetime:
    """The engine's clock (app.clock), as startup put it in ctx; a ctx built by hand (a test
    calling a job) gets the settings' own."""
    clock = ctx.get("clock") or clocks.for_settings(ctx["settings"])
    return clock()


async def measure_capacity(ctx: dict[str, Any]) -> dict[Platform, capacity.ProviderCapacity]:
    """Capacity figures: gauges here, and published in Redis for /health/ready (every
    worker publishes the same figures; the latest wins)."""
    settings: Settings = ctx["settings"]
    refresher: Refresher = ctx["refresher"]
    redis: Redis = ctx["pace_redis"]
    parking = lanes.Parking(redis, settings.lane_park_seconds)
    counts = {}
    quotas: dict[Platform, list[QuotaState]] = {}
    for platform, provider_lanes in refresher.lanes.items():
        parked = await parking.parked_ids(platform)
        counts[platform] = (
            len(provider_lanes),
            len(provider_lanes) - lanes.active(provider_lanes, parked),
        )
        budgeted = [lane.quota for lane in provider_lanes if lane.quota and lane.id not in parked]
        if platform is Platform.YOUTUBE:
            quotas[platform] = [await quota.state() for quota in budgeted]
    async with session_scope(ctx["sessionmaker"]) as session:
        watched = await watched_accounts.enabled_counts(session)
        channels = await handle_checks.channel_count(session)
        figures = await capacity.measure(
            session, _now(ctx), refresher.policy, settings, counts, watched, quotas, channels
        )
    capacity.export(figures)
    await capacity.publish(redis, figures, 3 * settings.capacity_interval_seconds)
    return figures


async def refresh_lag(
    session: AsyncSession, now: datetime, policy: Policy
) -> dict[Platform, float]:
    """Per platform, how overdue the most overdue due post is (0 when none is)."""
    rows = await claims.oldest_due(session, now, policy)
    oldest = {platform: at for platform, at in rows if at is not None}
    return {
        p: max((now - oldest[p]).total_seconds(), 0.0) if p in oldest else 0.0 for p in Platform
    }


async def _refresh(ctx: dict[str, Any], platform: Platform) -> dict[str, int]:
    running: set[Platform] = ctx["running"]
    if ctx["refresher"].stopping:
        return {}
    if platform in running:
        return {}
    running.add(platform)
    try:
        counts = dict(await ctx["refresher"].refresh_due(platform))
    finally:
        running.discard(platform)
    if counts:
        log.info("%s sweep: %s", platform, counts)
    return counts


async def refresh_tiktok(ctx: dict[str, Any]) -> dict[str, int]:
    return await _refresh(ctx, Platform.TIKTOK)


async def refresh_instagram(ctx: dict[str, Any]) -> dict[str, int]:
    return await _refresh(ctx, Platform.INSTAGRAM)


async def refresh_youtube(ctx: dict[str, Any]) -> dict[str, int]:
    return await _refresh(ctx, Platform.YOUTUBE)


async def refresh_now(ctx: dict[str, Any], platform: str) -> dict[str, int]:
    """Enqueued by POST /v1/refresh-runs so an on-demand run starts at once, not next tick."""
    return await _refresh(ctx, Platform(platform))


async def _watch(ctx: dict[str, Any], platform: Platform) -> dict[str, int]:
    running: set[str] = ctx["running"]
    name = f"watch:{platform.value}"
    if name in running:
        return {}
    running.add(name)
    try:
        counts = dict(await ctx["watcher"].check_due(platform))
    finally:
        running.discard(name)
    if counts:
        log.info("%s watched accounts: %s", platform, counts)
    return counts


async def check_watched_accounts(ctx: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Watched accounts that are due (issue 29), every platform at once, each at its lanes'
    pace beside the refresh sweeps."""
    results = await asyncio.gather(*(_watch(ctx, p) for p in Platform))
    return {p.value: r for p, r in zip(Platform, results, strict=True)}


async def check_youtube_handles(ctx: dict[str, Any]) -> dict[str, int]:
    """YouTube creators' @handles, each channel at most once per YOUTUBE_HANDLE_CHECK_HOURS
    (app/workers/handles.py); a check still running here makes this tick a no-op."""
    running: set[str] = ctx["running"]
    if "handles" in running:
        return {}
    running.add("handles")
    try:
        counts = dict(await ctx["handles"].check_due())
    finally:
        running.discard("handles")
    if counts:
        log.info("youtube handle check: %s", counts)
    return counts


async def decide_deadlines(ctx: dict[str, Any]) -> int:
    settings: Settings = ctx["settings"]
    refresher: Refresher = ctx["refresher"]
    async with session_scope(ctx["sessionmaker"]) as session:
        decided = await deadline_sweep.sweep(
            session,
            _now(ctx),
            refresher.policy,
            grace=timedelta(hours=settings.decision_grace_hours),
        )
    if decided:
        log.info("deadline sweep decided %d posts", decided)
    return decided


async def deliver_webhooks(ctx: dict[str, Any]) -> dict[str, int]:
    """Webhook deliveries that are due; a sweep still running here makes this tick a no-op."""
    if "webhooks" in ctx["running"]:
        return {}
    ctx["running"].add("webhooks")
    try:
        return dict(await ctx["webhooks"].sweep())
    finally:
        ctx["running"].discard("webhooks")


# Retention: each job deletes what its call finds older than its setting's days, hourly at
# its own minute (off the hour, when other schedules tend to fire), a batch a transaction.
PruneCall = Callable[[async_sessionmaker[AsyncSession], datetime], Awaitable[int]]


@dataclass(frozen=True)
class PruneJob:
    name: str  # the job's function name (arq names the cron job after it)
    call: PruneCall
    retention_days: str  # the Settings field (the env var, upper-cased)
    minute: int
    timeout: int


def _in_batches(
    prune: Callable[[AsyncSession, datetime, int], Awaitable[int]], batch: int
) -> PruneCall:
    return lambda sessionmaker, before: prune_in_batches(sessionmaker, prune, before, batch)


PRUNE_JOBS = (
    # Finished refresh runs.
    PruneJob(
        "prune_refresh_runs",
        _in_batches(runs.prune, runs.PRUNE_BATCH),
        "refresh_run_retention_days",
        minute=17,
        timeout=600,
    ),
    # Raw provider answers that no decision or flag used (those are kept for good).
    PruneJob(
        "prune_raw_answers",
        _in_batches(provenance.prune, provenance.PRUNE_BATCH),
        "raw_answer_retention_days",
        minute=37,
        timeout=1800,
    ),
    # Webhook events done with (app.webhooks.retention says when that is).
    PruneJob(
        "prune_webhook_events",
        webhook_retention.prune,
        "webhook_event_retention_days",
        minute=47,
        timeout=600,
    ),
)


def _prune_job(job: PruneJob) -> WorkerCoroutine:
    if job.retention_days not in Settings.model_fields:  # a typo fails at import, not at :17
        raise ValueError(f"{job.name}: no setting {job.retention_days}")

    async def prune(ctx: dict[str, Any]) -> int:
        days: int = getattr(ctx["settings"], job.retention_days)
        return await job.call(ctx["sessionmaker"], _now(ctx) - timedelta(days=days))

    prune.__name__ = prune.__qualname__ = job.name
    prune.__doc__ = f"Pruned after {job.retention_days.upper()} (see PRUNE_JOBS)."
    return prune


PRUNERS = {job.name: _prune_job(job) for job in PRUNE_JOBS}
prune_refresh_runs = PRUNERS["prune_refresh_runs"]
prune_raw_answers = PRUNERS["prune_raw_answers"]
prune_webhook_events = PRUNERS["prune_webhook_events"]


async def discord_followup(ctx: dict[str, Any], submission: dict[str, Any]) -> str:
    """Queued by /submit-post: create the post, fetch it, edit the deferred answer."""
    return await discord_submit.follow_up(
        ctx["sessionmaker"],
        ctx["intake_http"],
        ctx["settings"],
        Submission(**submission),
        lambda platform: _refresh(ctx, platform),
        ctx.get("shortlinks"),
    )


def start_import(ctx: dict[str, Any], import_id: uuid.UUID) -> bool:
    """Handles the import in a task of this process, beside the arq jobs rather than in a
    job slot: its short links may take minutes, and twenty imports holding the twenty slots
    would hold up every refresh, decision and delivery. False if it is running here already.
    The import's lease keeps other workers off it; the sweep restarts it if this one dies.
    (No cap on how many run at once: one organization's imports of hanging links would
    hold a cap and stall every other tenant's, as drill 11 shows; their links are bounded
    by the resolver's fair slots, their writes by short transactions.)"""
    running: dict[uuid.UUID, asyncio.Task[int]] = ctx["imports"]
    if import_id in running:
        return False
    task = asyncio.create_task(
        post_imports.process(ctx["sessionmaker"], ctx["shortlinks"], ctx["settings"], import_id)
    )
    running[import_id] = task

    def done(task: asyncio.Task[int]) -> None:
        running.pop(import_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("post import %s failed: %r", import_id, task.exception())

    task.add_done_callback(done)
    return True


async def process_post_import(ctx: dict[str, Any], import_id: str) -> int:
    """Queued by a bulk paste: starts the import (see start_import); the sweep below takes
    any import this misses. Returns how many it started."""
    return int(start_import(ctx, uuid.UUID(import_id)))


async def sweep_post_imports(ctx: dict[str, Any]) -> int:
    """Starts the imports nobody is handling (never started, or their worker died)."""
    waiting = await post_imports.waiting(ctx["sessionmaker"])
    return sum(start_import(ctx, import_id) for import_id in waiting)


def completion_wait(settings: Settings) -> float:
    """How long jobs may run on by themselves after SIGTERM: the grace period less the time
    kept for what follows (cancelling the rest, their hand-backs and last writes, closing)."""
    grace = settings.worker_stop_grace_seconds
    return max(grace - min(5.0, grace / 4), 0.0)


def _every(seconds: int) -> set[int]:
    return set(range(0, 60, seconds))


def _cron_jobs(settings: Settings) -> list[Any]:
    tick = _every(settings.sweep_interval_seconds)
    jobs = (
        (refresh_tiktok, 24 * 3600),
        (refresh_instagram, 24 * 3600),
        (refresh_youtube, 24 * 3600),
        (decide_deadlines, 600),
    )
    return [
        cron(job, second=tick, run_at_startup=True, timeout=timeout, max_tries=1)
        for job, timeout in jobs
    ] + [
        cron(
            deliver_webhooks,
            second=_every(settings.webhook_sweep_interval_seconds),
            run_at_startup=True,
            timeout=webhooks.MAX_SWEEP_SECONDS + 2 * settings.webhook_lease_seconds,
            max_tries=1,
        ),
        *(
            cron(PRUNERS[job.name], minute=job.minute, second=0, timeout=job.timeout, max_tries=1)
            for job in PRUNE_JOBS
        ),
        # Hourly: each channel is due once per YOUTUBE_HANDLE_CHECK_HOURS, so most runs find
        # few or none.
        cron(check_youtube_handles, minute=27, second=0, timeout=3600, max_tries=1),
        cron(
            check_watched_accounts,
            second=_every(settings.watch_sweep_interval_seconds),
            run_at_startup=True,
            timeout=24 * 3600,
            max_tries=1,
        ),
        cron(
            sweep_post_imports,
            second=_every(settings.post_import_sweep_interval_seconds),
            run_at_startup=True,
            timeout=3600,
            max_tries=1,
        ),
    ]


class WorkerSettings:
    settings = get_settings()
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    # A follow-up is not retried: a second run would find the post it created and answer
    # "already tracked".
    functions: ClassVar = [
        refresh_now,
        arq_function(discord_followup, max_tries=1),
        process_post_import,
    ]
    cron_jobs: ClassVar = _cron_jobs(settings)
    on_startup = startup
    job_timeout = 24 * 3600
    max_jobs = 20
    keep_result = 60
    # On SIGTERM (main.py), jobs stop claiming and may finish for most of the grace period;
    # what is still running then is cancelled and hands its unfetched posts back (the engine
    # releases their leases).
    job_completion_wait = completion_wait(settings)
    handle_signals = False  # main.py owns the signals
