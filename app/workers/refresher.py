"""The refresher: claim due posts, fetch them at the provider's pace, write the results.
The worker's jobs and the benchmark run this same code.

Writes overlap the pacing pause: a batch's results go to the writer (result_queue.py) the moment
the batch ends, and the next batch waits out its pause while the writer works.

`stop()` (the worker's SIGTERM) ends every sweep soon and cleanly: no claim is taken after it,
the fetch batch in flight is finished and queued, every post claimed but not fetched is handed
back at once (its lease cleared, so another worker takes it now), and the writer flushes."""

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from app.clock import Clock, wall
from app.db import session_scope
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.domain.refresh import DuePost
from app.platforms.contract import BatchClient, FetchError, FetchResult, StatsClient, VideoRef
from app.platforms.http import noting_answers
from app.repositories import claims
from app.settings import Settings
from app.workers import lanes, result_queue, run_progress
from app.workers.lanes import Lane
from app.workers.pacing import UNPACED, Batch, BatchGate

# How long a stopping sweep waits for a claim it took ahead to commit, to hand it back.
_DROP_WAIT_SECONDS = 5.0


# A lane's first claim in a sweep: enough fetch batches to cover taking its next claim.
_FIRST_CLAIM_BATCHES = 4

# How long a worker's startup gives warming its claims (Refresher.warm).
_WARM_SECONDS = 5.0

# An idle lane never polls faster than this (tests and benchmarks may pace at 0).
_MIN_IDLE_SECONDS = 0.05


def _pace_seconds(settings: Settings, platform: Platform) -> float:
    """One pacing interval of a lane: between TikTok or YouTube batches, or Instagram
    requests."""
    if platform is Platform.TIKTOK:
        return settings.tiktok_batch_pause_seconds
    if platform is Platform.YOUTUBE:
        return settings.youtube_batch_pause_seconds
    return settings.instagram_request_spacing_seconds


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
    elif platform is Platform.YOUTUBE:  # whole batches of up to 50: a unit buys a batch
        batch = settings.youtube_batch_size
        per_post = settings.youtube_batch_pause_seconds / batch
        paced = settings.claim_lease_seconds / 8 / max(per_post, 1e-3)
        whole = int(min(max(paced, batch), settings.write_batch_max)) // batch * batch
        return max(whole, batch)
    else:
        spacing = settings.instagram_request_spacing_seconds
        batch, per_post = 1, spacing + settings.instagram_request_latency_seconds
    paced = settings.claim_lease_seconds / 8 / max(per_post, 1e-3)
    return int(min(max(paced, batch), settings.write_batch_max))


class Refresher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clients: Mapping[Platform, StatsClient],
        settings: Settings,
        *,
        gates: Mapping[Platform, BatchGate] | None = None,
        clock: Clock = wall,
        provider_lanes: Mapping[Platform, Sequence[Lane]] | None = None,
    ) -> None:
        """`provider_lanes` (app.workers.lanes.build) are what the worker runs; without
        them, each platform's client and gate make one lane."""
        self._sessionmaker = sessionmaker
        self._settings = settings
        self.lanes: Mapping[Platform, Sequence[Lane]] = provider_lanes or lanes.single(
            clients, gates or {}
        )
        self._clock = clock
        self._stopping = asyncio.Event()
        # Posts handed back unfetched, per platform (logged when a sweep ends stopped).
        self.handed_back: Counter[Platform] = Counter()
        self.policy = Policy.from_settings(settings)
        # TikTok is fetched in concurrent batches; Instagram one at a time (its client paces
        # every request through the deployment-wide spacer: one in flight, the next one a
        # spacing after its answer).
        self._batch_size = {
            Platform.TIKTOK: settings.tiktok_batch_size,
            Platform.INSTAGRAM: 1,
            Platform.YOUTUBE: settings.youtube_batch_size,  # one videos.list call each
        }

    async def warm(self) -> None:
        """Each platform's claim built and compiled once, claiming nothing, before the first
        sweep: cold, a claim took ~60 ms more of CPU (SQLAlchemy compiling its statement, the
        pool's first connection), and a worker's first sweep took its platforms' first claims
        at once, before its first request (issue 24 item 2). Best effort: with the database
        not up yet, the first sweep is only slower."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_WARM_SECONDS), session_scope(self._sessionmaker) as s:
                for platform in self.lanes:
                    await claims.claim(
                        s,
                        platform,
                        now=self._clock(),
                        limit=0,
                        lease=timedelta(seconds=self._settings.claim_lease_seconds),
                        policy=self.policy,
                    )

    def stop(self) -> None:
        """No more claims: running sweeps finish the batch in flight, hand back the rest of
        what they hold, flush their writes and end; later sweeps end at once."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def refresh_due(self, platform: Platform) -> Counter[str]:
        """Refresh every due post of the platform, claim by claim, until none is left, on
        every lane of its provider that is not parked (one claim loop each). In each loop the
        next claim is taken while the current one is fetched, and one writer serves the
        whole sweep, so neither the claim nor the last write of a claim holds up fetching."""
        totals: Counter[str] = Counter()
        handed_back = self.handed_back[platform]
        sweep_runs: dict[uuid.UUID, uuid.UUID] = {}
        # Lanes claim one at a time, so two never start a run for the same organization.
        claiming = asyncio.Lock()
        ready = [lane for lane in self.lanes[platform] if not await lane.parked()]
        if not ready:
            return totals

        async def claim_next(settled: bool, limit: int) -> list[DuePost]:
            async with claiming:
                if self._stopping.is_set():
                    return []
                return await claim_once(settled, limit)

        async def claim_once(settled: bool, limit: int) -> list[DuePost]:
            known = dict(sweep_runs)
            try:
                async with session_scope(self._sessionmaker) as session:
                    due = await claims.claim(
                        session,
                        platform,
                        now=self._clock(),
                        limit=limit,
                        lease=timedelta(seconds=self._settings.claim_lease_seconds),
                        policy=self.policy,
                        runs=sweep_runs,
                        settled=settled,
                    )
                    return await run_progress.attach(
                        session, due, sweep_runs, platform, self._clock()
                    )
            except BaseException:
                # Runs started in a transaction that rolled back do not exist.
                sweep_runs.clear()
                for org, run in known.items():
                    sweep_runs[org] = run
                raise

        # Updates of several runs go in id order, but PostgreSQL does not promise that order
        # for UPDATE ... FROM: should a claim ever deadlock with a write, it is taken again.
        claim_retrying = AsyncRetrying(
            retry=retry_if_exception(_deadlocked), stop=stop_after_attempt(3), reraise=True
        )

        async with result_queue.writing(
            self._sessionmaker,
            self._settings,
            self.policy,
            self._clock,
            platform,
            self._batch_size[platform],
            totals,
        ) as write:
            # A lane that finds nothing due does not leave the sweep while another lane still
            # has work: posts come due all the time, and one busy lane keeps the sweep alive,
            # so a lane that left would sit idle, its key's capacity unused, until the sweep
            # ended. It looks again after one pacing interval; the sweep ends when every lane
            # found nothing at once (or was parked).
            idle_lanes = 0
            over = asyncio.Event()
            idle = max(_pace_seconds(self._settings, platform), _MIN_IDLE_SECONDS)

            def claim_for(lane: Lane) -> Callable[[], Coroutine[Any, Any, list[DuePost]]]:
                first = True

                async def claim() -> list[DuePost]:
                    nonlocal first
                    # Deadline first: a lane low on its daily quota leaves settled posts be.
                    settled = lane.quota is None or await lane.quota.above_reserve()
                    limit = claim_size(self._settings, platform)
                    if first:
                        # A lane's first claim is a few batches: its first request waits for
                        # it, and the sweep knows no run yet (a finished run never reopens, so
                        # every sweep starts its own), so its posts are joined to the new
                        # runs by a second write of each (run_progress.attach). The claims
                        # after it, taken ahead while fetching, are whole and join the posts
                        # of organizations the sweep has a run for as they claim them. A
                        # TikTok sweep's first claim of 600 and its join held its first
                        # request ~0.3 s (issue 24).
                        limit = min(limit, self._batch_size[platform] * _FIRST_CLAIM_BATCHES)
                    due: list[DuePost] = await claim_retrying(claim_next, settled, limit)
                    if due:
                        first = False
                    return due

                return claim

            def idle_now() -> None:
                nonlocal idle_lanes
                idle_lanes += 1
                if idle_lanes == len(ready):
                    over.set()

            async def run(lane: Lane) -> None:
                nonlocal idle_lanes
                claim = claim_for(lane)
                due = await claim()
                while True:
                    if due and not await self._work(platform, lane, due, write, claim):
                        idle_now()  # parked: idle for the rest of the sweep
                        return
                    idle_now()
                    if self._stopping.is_set():
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(over.wait(), idle)
                    if over.is_set() or self._stopping.is_set():
                        return
                    idle_lanes -= 1
                    due = await claim()

            async with asyncio.TaskGroup() as group:
                for lane in ready:
                    group.create_task(run(lane))
        if self._stopping.is_set() and self.handed_back[platform] > handed_back:
            totals["handed_back"] = self.handed_back[platform] - handed_back
        return totals

    async def _work(
        self,
        platform: Platform,
        lane: Lane,
        due: list[DuePost],
        write: result_queue.Put,
        claim: Callable[[], Coroutine[Any, Any, list[DuePost]]],
    ) -> bool:
        """Fetch claim after claim on one lane, the next claim taken while the current one is
        fetched, until a claim comes back empty. False if the lane was parked meanwhile."""
        while due:
            upcoming: asyncio.Task[list[DuePost]] = asyncio.create_task(claim())
            try:
                await self._process(platform, lane, due, write)
            except _Parked:
                await self._drop(upcoming)
                return False
            except BaseException:
                await self._drop(upcoming)
                raise
            due = await upcoming
        return True

    async def _process(
        self, platform: Platform, lane: Lane, due: list[DuePost], write: result_queue.Put
    ) -> None:
        size = self._batch_size[platform]
        # Asked once a claim: `isinstance` against a runtime protocol walks its members each
        # time (2.3% of the engine's CPU in the pipeline benchmark when asked per batch,
        # that is per Instagram post; issue 24).
        many = lane.client.fetch_many if isinstance(lane.client, BatchClient) else None
        pending: list[DuePost] = list(due)
        try:
            async with _batches(lane) as gated:
                for start in range(0, len(due), size):
                    if self._stopping.is_set():
                        break  # the rest is handed back below
                    batch = due[start : start + size]
                    async with gated() as paced:
                        results = await _fetch_all(lane.client, many, batch, paced.answered)
                    for result in results:
                        lane.observe(result)
                    items = list(zip(batch, results, strict=True))
                    if any(lanes.out_of_quota(lane, r) for r in results):
                        # The day's quota, not the videos: they stay due (released below)
                        # and the lane waits for the reset.
                        kept = [(p, r) for p, r in items if not lanes.out_of_quota(lane, r)]
                        if kept:
                            await write(kept)
                        done = {p.id for p, _ in kept}
                        pending = [p for p in pending if p.id not in done]
                        raise _Parked
                    refusal = next((r for r in results if lanes.refused(r)), None)
                    if refusal is not None and lane.parking is not None:
                        # The key, not the videos: what the lane could not fetch goes back
                        # to the queue (released below) for the other lanes.
                        kept = [(p, r) for p, r in items if not lanes.refused(r)]
                        if kept:
                            await write(kept)
                        done = {p.id for p, _ in kept}
                        pending = [p for p in pending if p.id not in done]
                        assert isinstance(refusal, FetchError)
                        await lane.park(refusal)
                        raise _Parked
                    await write(items)
                    del pending[: len(batch)]  # queued: the writer has them now
        finally:
            if pending:  # cancelled (shutdown), failed or parked: hand the rest back at once
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
        """Hand these posts back now. Shielded: the release runs when a job is being torn
        down (a shutdown, a lost Redis), and a cancellation arriving mid-release would leave
        the posts leased, unfetched until their lease runs out."""
        for post in posts:
            self.handed_back[post.platform] += 1
        await asyncio.shield(self._release_now([p.id for p in posts]))

    async def _release_now(self, post_ids: list[uuid.UUID]) -> None:
        with contextlib.suppress(Exception):
            async with session_scope(self._sessionmaker) as session:
                await claims.release(session, post_ids)


@contextlib.asynccontextmanager
async def _batches(
    lane: Lane,
) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[Batch]]]:
    """What each batch of one claim is run inside: the lane's gate, if it has one; a lane
    paced request by request (Instagram) runs the claim as one run of its spacer."""
    if lane.gate is None:
        async with lane.spacer.run() if lane.spacer else contextlib.nullcontext():
            yield lambda: contextlib.nullcontext(UNPACED)
        return
    async with lane.gate.turns() as turns:
        yield turns.batch


async def _fetch_all(
    client: StatsClient,
    many: Callable[[Sequence[VideoRef]], Awaitable[list[FetchResult]]] | None,
    batch: list[DuePost],
    answered: Callable[[], None],
) -> list[FetchResult]:
    """The batch's answers, `answered()` called as each arrives (the gate's pause is timed
    from the last). `many`: the client's `fetch_many`, if it has one (YouTube: the whole
    batch in one request)."""
    if many is not None:
        results = await many([_ref(p) for p in batch])
        answered()
        return results

    async def one(post: DuePost) -> FetchResult:
        result = await client.fetch(_ref(post))
        answered()
        return result

    async def one_of_many(post: DuePost) -> FetchResult:
        # Each answer noted as soon as it is read, the batch's other answers read before it
        # is parsed (http.noting_answers); a client that does not go through http.send is
        # noted when it returns.
        noted = False

        def note() -> None:
            nonlocal noted
            noted = True
            answered()

        with noting_answers(note):
            result = await client.fetch(_ref(post))
        if not noted:
            answered()
        return result

    if len(batch) == 1:  # Instagram's case: no task, so no extra turn of the event loop
        return [await one(batch[0])]
    return await asyncio.gather(*(one_of_many(p) for p in batch))


class _Parked(Exception):
    """The lane's key was refused: its loop stops until the lane is unparked."""


def _deadlocked(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "40P01"


def _ref(post: DuePost) -> VideoRef:
    return VideoRef(post.platform, post.platform_post_id, post.handle)
