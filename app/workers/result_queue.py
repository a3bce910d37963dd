"""The refresher's result queue: fetched results queue up and one task writes whatever has
queued in one transaction (one call of services/refresh_results.write), so writes overlap
the pacing pause and never hold up fetching."""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import describe_database_error, refuses_the_data, session_scope
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.domain.refresh import DuePost
from app.platforms.contract import FetchResult
from app.services import refresh_results
from app.settings import Settings
from app.workers import metrics

log = logging.getLogger(__name__)
Results = list[tuple[DuePost, FetchResult]]
Put = Callable[[Results], Awaitable[None]]


@contextlib.asynccontextmanager
async def writing(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    policy: Policy,
    clock: Callable[[], datetime],
    platform: Platform,
    batch_size: int,
    totals: Counter[str],
) -> AsyncIterator[Put]:
    """Yields `put(items)`, which queues the items for the writer task. The queue holds
    about half a write's worth (`write_batch_max`): fetching waits when the database falls
    behind, so memory stays flat. The writer starts a write at `write_batch_min` items and
    takes whatever else has queued by then (without waiting for more, so at most the
    minimum and the queue's half of `write_batch_max`): a writer that falls behind catches
    up in fewer, larger writes, each statement's cost being mostly per write, not per post.
    Taking only the minimum, the pipeline benchmark wrote 30,000 posts in 196 writes at
    ~1,180 posts/s; taking what waits, in 86 at ~1,490, its peak RSS ~4 MB higher (the
    queue refills while the larger write runs; issue 24). Queuing more is mostly more
    results waiting in memory (a whole write's worth: 2.5 MB more of the engine's peak at
    100,000 posts, for ~3% more posts a second). Leaving the block waits for the last
    write; outcomes are added to `totals`."""
    queue: asyncio.Queue[Results | None] = asyncio.Queue(
        maxsize=max(settings.write_batch_max // batch_size // 2, 1)
    )
    loop = asyncio.get_running_loop()

    async def write(items: Results) -> Counter[str]:
        """One flush, retried through a short database outage. If it still fails, the posts
        keep their lease and come back when it ends: fetched again, never lost. A batch the
        database refuses for its data is written post by post, so one bad post fails alone."""
        for attempt in range(settings.write_attempts):
            try:
                async with session_scope(sessionmaker) as session:
                    return await refresh_results.write(session, items, clock(), policy)
            except Exception as exc:
                # The error's class and SQLSTATE only: a statement's parameters and the
                # database's DETAIL lines are tenants' data and stay out of the logs.
                if _outage(exc):
                    log.warning(
                        "writing %d results failed (attempt %d): %s",
                        len(items),
                        attempt + 1,
                        describe_database_error(exc),
                    )
                    await asyncio.sleep(min(2**attempt, 10))
                    continue
                log.warning(
                    "writing %d results failed (%s); writing them one by one",
                    len(items),
                    describe_database_error(exc),
                )
                return await write_each(items)
        return Counter()

    async def write_each(items: Results) -> Counter[str]:
        written: Counter[str] = Counter()
        for item in items:
            try:
                async with session_scope(sessionmaker) as session:
                    written += await refresh_results.write(session, [item], clock(), policy)
            except Exception as exc:
                if _outage(exc):
                    raise  # the rest keep their leases and come back when it ends
                post = item[0]
                log.warning("writing post %s failed: %s", post.id, describe_database_error(exc))
                async with session_scope(sessionmaker) as session:
                    await refresh_results.unwritable(
                        session, post, describe_database_error(exc), clock(), policy
                    )
                written["failed"] += 1
        return written

    async def drain() -> None:
        done = False
        while not done:
            first = await queue.get()
            if first is None:
                return
            items = list(first)
            # What waits already, whatever its size: a writer behind catches up in fewer,
            # larger writes. Below the minimum, linger a little for more, so fast fetching
            # makes few large writes; at the real pace the pause is far longer than this and
            # nothing waits.
            linger = loop.time() + settings.write_linger_seconds
            while len(items) < settings.write_batch_max:
                if not queue.empty():
                    more = queue.get_nowait()
                elif len(items) >= settings.write_batch_min:
                    break
                else:
                    try:
                        more = await asyncio.wait_for(queue.get(), linger - loop.time())
                    except TimeoutError:
                        break
                if more is None:
                    done = True
                    break
                items += more
            written = await write(items)
            for outcome, n in written.items():
                totals[outcome] += n
                metrics.REFRESHED.labels(platform.value, outcome).inc(n)

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


def _outage(exc: BaseException) -> bool:
    """PostgreSQL unreachable or restarting (the batch waits and is tried again), as against
    a batch that fails for what it carries (written post by post, so one post fails alone)."""
    if isinstance(exc, DBAPIError):
        return not refuses_the_data(exc)
    return isinstance(exc, OSError | TimeoutError)
