"""The refresher's writer: fetched results queue up and one task writes whatever has queued
in one transaction, so writes overlap the pacing pause and never hold up fetching."""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import session_scope
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.platforms.contract import FetchResult
from app.settings import Settings
from app.workers import metrics
from app.workers.claims import DuePost
from app.workers.results import write_results

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
    about one write's worth: fetching waits when the database falls behind, so memory stays
    flat. Leaving the block waits for the last write; outcomes are added to `totals`."""
    queue: asyncio.Queue[Results | None] = asyncio.Queue(
        maxsize=max(settings.write_batch_max // batch_size, 1)
    )
    loop = asyncio.get_running_loop()

    async def write(items: Results) -> Counter[str]:
        """One flush, retried through a short database outage. If it still fails, the posts
        keep their lease and come back when it ends: fetched again, never lost."""
        for attempt in range(settings.write_attempts):
            try:
                async with session_scope(sessionmaker) as session:
                    return await write_results(session, items, clock(), policy)
            except Exception as exc:
                # The error's class and message only: a statement's parameters are tenants'
                # data and stay out of the logs.
                log.warning(
                    "writing %d results failed (attempt %d): %s",
                    len(items),
                    attempt + 1,
                    type(exc).__name__,
                )
                await asyncio.sleep(min(2**attempt, 10))
        return Counter()

    async def drain() -> None:
        done = False
        while not done:
            first = await queue.get()
            if first is None:
                return
            items = list(first)
            # Linger a little for more, so fast fetching makes few large writes; at the real
            # pace the pause is far longer than this and nothing waits.
            linger = loop.time() + settings.write_linger_seconds
            while len(items) < settings.write_batch_min:
                try:
                    more = await asyncio.wait_for(queue.get(), linger - loop.time())
                except TimeoutError:
                    break
                if more is None:
                    done = True
                    break
                items += more
            written = await write(items)
            totals.update(written)
            for outcome, n in written.items():
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
