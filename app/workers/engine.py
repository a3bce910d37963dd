"""The refresh engine: claim due posts, fetch them at the provider's pace, write the results.
The worker's jobs and the benchmark run this same code.

Writes overlap the pacing pause: a batch's results go to a writer task the moment the batch
ends, and the next batch waits out its pause while the writer works."""

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from app.db import session_scope
from app.domain import schedule
from app.domain.enums import Platform
from app.models import RefreshRun
from app.platforms.contract import FetchResult, StatsClient, VideoRef
from app.settings import Settings
from app.workers import claims, metrics
from app.workers.apply import Policy, apply_results
from app.workers.claims import DuePost
from app.workers.pacing import BatchGate

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# How long a stopping sweep waits for a claim it took ahead to commit, to hand it back.
_DROP_WAIT_SECONDS = 5.0
Results = list[tuple[DuePost, FetchResult]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def policy_from(settings: Settings) -> Policy:
    return Policy(
        cadence=schedule.Cadence(
            active=timedelta(hours=settings.active_refresh_interval_hours),
            settled=timedelta(hours=settings.finalized_refresh_interval_hours),
            window=timedelta(days=settings.refresh_window_days),
            retry=timedelta(seconds=settings.failed_fetch_retry_seconds),
        ),
        min_views=settings.min_views,
        finalize_after_days=settings.finalize_after_days,
    )


def claim_size(settings: Settings, platform: Platform) -> int:
    """Enough posts for about an eighth of the lease at the provider's pace, at least one
    fetch batch, at most one write's worth. The next claim is taken while this one is
    fetched, so a claim's last post is fetched about a quarter of the lease after it was
    taken: room for the provider's pace to be shared with other workers."""
    if platform is Platform.TIKTOK:
        batch, per_post = (
            settings.tiktok_batch_size,
            settings.tiktok_batch_pause_seconds / settings.tiktok_batch_size,
        )
    else:
        batch, per_post = 1, settings.instagram_request_spacing_seconds
    paced = settings.claim_lease_seconds / 8 / max(per_post, 1e-3)
    return int(min(max(paced, batch), settings.write_batch_max))


class Engine:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clients: Mapping[Platform, StatsClient],
        settings: Settings,
        *,
        gates: Mapping[Platform, BatchGate] | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clients = clients
        self._settings = settings
        self._gates = gates or {}
        self._clock = clock
        self.policy = policy_from(settings)
        # TikTok is fetched in concurrent batches; Instagram one at a time (its client paces
        # every request through the deployment-wide spacer).
        self._batch_size = {
            Platform.TIKTOK: settings.tiktok_batch_size,
            Platform.INSTAGRAM: 1,
        }

    async def refresh_due(self, platform: Platform) -> Counter[str]:
        """Refresh every due post of the platform, claim by claim, until none is left. The
        next claim is taken while the current one is fetched, and one writer serves the
        whole sweep, so neither the claim nor the last write of a claim holds up fetching."""
        totals: Counter[str] = Counter()
        sweep_runs: dict[uuid.UUID, uuid.UUID] = {}

        async def claim_next() -> list[DuePost]:
            known = dict(sweep_runs)
            try:
                async with session_scope(self._sessionmaker) as session:
                    due = await claims.claim(
                        session,
                        platform,
                        now=self._clock(),
                        limit=claim_size(self._settings, platform),
                        lease=timedelta(seconds=self._settings.claim_lease_seconds),
                        window=self.policy.cadence.window,
                        near_deadline=timedelta(days=self._settings.finalize_after_days)
                        - self.policy.cadence.active,
                        runs=sweep_runs,
                    )
                    return await _attach_to_runs(session, due, sweep_runs, platform, self._clock())
            except BaseException:
                # Runs started in a transaction that rolled back do not exist.
                sweep_runs.clear()
                sweep_runs.update(known)
                raise

        # Updates of several runs go in id order, but PostgreSQL does not promise that order
        # for UPDATE ... FROM: should a claim ever deadlock with a write, it is taken again.
        claim_retrying = AsyncRetrying(
            retry=retry_if_exception(_deadlocked), stop=stop_after_attempt(3), reraise=True
        )

        async with self._writer(platform, totals) as write:
            due: list[DuePost] = await claim_retrying(claim_next)
            while due:
                upcoming: asyncio.Task[list[DuePost]] = asyncio.create_task(
                    claim_retrying(claim_next)
                )
                try:
                    await self._process(platform, due, write)
                except BaseException:
                    await self._drop(upcoming)
                    raise
                due = await upcoming
        return totals

    async def _process(
        self, platform: Platform, due: list[DuePost], write: Callable[[Results], Awaitable[None]]
    ) -> None:
        client = self._clients[platform]
        size = self._batch_size[platform]
        pending: list[DuePost] = list(due)
        try:
            async with _batches(self._gates.get(platform)) as gated:
                for start in range(0, len(due), size):
                    batch = due[start : start + size]
                    async with gated():
                        results = await _fetch_all(client, batch)
                    await write(list(zip(batch, results, strict=True)))
                    del pending[: len(batch)]  # queued: the writer has them now
        finally:
            if pending:  # cancelled (shutdown) or failed: hand the rest back at once
                await self._release(pending)

    async def _drop(self, upcoming: "asyncio.Task[list[DuePost]]") -> None:
        """A claim taken ahead that will not be fetched: let it finish (a cancelled commit
        could leave its posts leased) and hand its posts back; give up on a stuck one."""
        try:
            claimed = await asyncio.wait_for(asyncio.shield(upcoming), _DROP_WAIT_SECONDS)
        except BaseException:
            upcoming.cancel()
            return
        await self._release(claimed)

    async def _release(self, posts: list[DuePost]) -> None:
        with contextlib.suppress(Exception):
            async with session_scope(self._sessionmaker) as session:
                await claims.release(session, [p.id for p in posts])

    @contextlib.asynccontextmanager
    async def _writer(
        self, platform: Platform, totals: Counter[str]
    ) -> AsyncIterator[Callable[[Results], Awaitable[None]]]:
        """Yields `write(items)`, which queues the items; one task writes whatever has queued
        up in one transaction, so writes never hold up the fetching. The queue holds about
        one write's worth: fetching waits when the database falls behind, so memory stays
        flat. Leaving the block waits for the last write."""
        most = self._settings.write_batch_max // self._batch_size[platform]
        queue: asyncio.Queue[Results | None] = asyncio.Queue(maxsize=max(most, 1))

        async def drain() -> None:
            done = False
            while not done:
                first = await queue.get()
                if first is None:
                    return
                items = list(first)
                # Linger a little for more, so fast fetching makes few large writes; at
                # the real pace the pause is far longer than this and nothing waits.
                linger = loop.time() + self._settings.write_linger_seconds
                while len(items) < self._settings.write_batch_min:
                    try:
                        more = await asyncio.wait_for(queue.get(), linger - loop.time())
                    except TimeoutError:
                        break
                    if more is None:
                        done = True
                        break
                    items += more
                written = await self._write(items)
                totals.update(written)
                for outcome, n in written.items():
                    metrics.REFRESHED.labels(platform.value, outcome).inc(n)

        loop = asyncio.get_running_loop()
        task = asyncio.create_task(drain())

        async def put(item: Results | None) -> None:
            if not queue.full() and not task.done():
                queue.put_nowait(item)
                return
            # Wait for room, or for the writer to stop, whose error is then raised here.
            room = asyncio.ensure_future(queue.put(item))
            await asyncio.wait({room, task}, return_when=asyncio.FIRST_COMPLETED)
            if not room.done():
                room.cancel()
                await task
                raise RuntimeError("the writer stopped before the sweep ended")

        try:
            yield put
        finally:
            if not task.done():
                await put(None)
            await task

    async def _write(self, items: Results) -> Counter[str]:
        """Write one flush, retrying through a short database outage. If it still fails, the
        posts keep their lease and come back when it ends: fetched again, never lost."""
        for attempt in range(self._settings.write_attempts):
            try:
                async with session_scope(self._sessionmaker) as session:
                    return await apply_results(session, items, self._clock(), self.policy)
            except Exception:
                log.exception("writing %d results failed (attempt %d)", len(items), attempt + 1)
                await asyncio.sleep(min(2**attempt, 10))
        return Counter()


@contextlib.asynccontextmanager
async def _batches(
    gate: BatchGate | None,
) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[None]]]:
    """What each batch of one claim is run inside: the platform's gate, if it has one."""
    if gate is None:
        yield contextlib.nullcontext
        return
    async with gate.turns() as turns:
        yield turns.batch


async def _fetch_all(client: StatsClient, batch: list[DuePost]) -> list[FetchResult]:
    if len(batch) == 1:  # Instagram's case: no task, so no extra turn of the event loop
        return [await client.fetch(_ref(batch[0]))]
    return await asyncio.gather(*(client.fetch(_ref(p)) for p in batch))


def _deadlocked(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "40P01"


def _ref(post: DuePost) -> VideoRef:
    return VideoRef(post.platform, post.platform_post_id, post.handle)


async def _attach_to_runs(
    session: AsyncSession,
    due: list[DuePost],
    sweep_runs: dict[uuid.UUID, uuid.UUID],
    platform: Platform,
    now: datetime,
) -> list[DuePost]:
    """Posts refreshed on schedule count toward a 'scheduled' run of their organization, one
    per platform per hour, so scheduled sweeps show their progress like on-demand runs do.
    The claim itself joins posts to the runs in `sweep_runs`; this finds or starts the runs
    of organizations the sweep meets for the first time, and joins their posts."""
    orphans = [p for p in due if p.refresh_run_id is None]
    if not orphans:
        return due
    missing = {p.organization_id for p in orphans} - sweep_runs.keys()
    if missing:
        hour = now.replace(minute=0, second=0, microsecond=0)
        existing = await session.execute(
            select(RefreshRun.organization_id, RefreshRun.id)
            .ext(distinct_on(RefreshRun.organization_id))
            .where(
                RefreshRun.organization_id.in_(missing),
                RefreshRun.kind == "scheduled",
                RefreshRun.scope["platform"].astext == platform.value,
                RefreshRun.started_at >= hour,
            )
            .order_by(RefreshRun.organization_id, RefreshRun.id.desc())
        )
        sweep_runs.update({org: run_id for org, run_id in existing.all()})
    for org in {p.organization_id for p in orphans} - sweep_runs.keys():
        run = RefreshRun(
            organization_id=org,
            kind="scheduled",
            scope={"platform": platform.value},
            started_at=now,
        )
        session.add(run)
        await session.flush()
        sweep_runs[org] = run.id
    await session.execute(
        text(
            "UPDATE posts p SET refresh_run_id = u.run FROM unnest(CAST(:ids AS uuid[]),"
            " CAST(:runs AS uuid[])) AS u(id, run) WHERE p.id = u.id"
        ),
        {"ids": [p.id for p in orphans], "runs": [sweep_runs[p.organization_id] for p in orphans]},
    )
    per_run = Counter(sweep_runs[p.organization_id] for p in orphans)
    runs = sorted(per_run)  # in id order, like every multi-run update (see apply.py)
    await session.execute(
        text(
            "UPDATE refresh_runs r SET queued = r.queued + u.n, finished_at = NULL"
            " FROM unnest(CAST(:runs AS uuid[]), CAST(:counts AS int[])) AS u(id, n)"
            " WHERE r.id = u.id"
        ),
        {"runs": runs, "counts": [per_run[r] for r in runs]},
    )
    return [
        replace(p, refresh_run_id=sweep_runs[p.organization_id]) if p.refresh_run_id is None else p
        for p in due
    ]
