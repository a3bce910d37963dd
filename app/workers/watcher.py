"""The watch job (issue 29): claim the watched accounts that are due, list each one's recent
posts through a provider lane at the lane's pace (TikTok and YouTube: each page a batch of
the lane's gate, a YouTube page also a unit of the lane's daily quota; Instagram: its
spacer), and hand what the listing said to the service that adds the new videos. Listings
yield to posts near their deadline: while any is due on the platform, the job stops and
hands its watches back; a YouTube lane lists only with units above its
YOUTUBE_QUOTA_RESERVE_UNITS, the rest of its day being kept for posts still tracking. A
failure for one account never stops the others."""

import asyncio
import contextlib
import itertools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta

from prometheus_client import Counter as Metric
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock, wall
from app.db import session_scope
from app.domain import watching
from app.domain.enums import Platform, StatsSource
from app.domain.policy import Policy
from app.domain.watching import Outcome
from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.listings import AccountLister, ListResult
from app.repositories import claims
from app.repositories import watched_accounts as repo
from app.repositories.watched_accounts import DueWatch
from app.services import watch_checks
from app.settings import Settings
from app.workers.lanes import Lane

log = logging.getLogger(__name__)

LISTINGS = Metric(
    "viewledger_watch_listings_total",
    "Account listing pages asked for (watched accounts), by platform, lane and outcome.",
    ["platform", "lane", "outcome"],
)
CHECKS = Metric(
    "viewledger_watch_checks_total",
    "Checks of watched accounts, by platform and outcome.",
    ["platform", "outcome"],
)
VIDEOS = Metric(
    "viewledger_watch_videos_total",
    "Listed videos a check looked at, by platform and result: added, or the skip reason.",
    ["platform", "result"],
)

_OUTCOMES = {
    FetchErrorKind.PRIVATE: Outcome.PRIVATE,
    FetchErrorKind.NOT_FOUND: Outcome.NOT_FOUND,
    FetchErrorKind.RATE_LIMITED: Outcome.RATE_LIMITED,
    FetchErrorKind.QUOTA_EXHAUSTED: Outcome.QUOTA_EXHAUSTED,
    FetchErrorKind.AUTH: Outcome.AUTH,
}


# Where first stats from a listing come from (YouTube's listings carry none).
_SOURCES = {
    Platform.TIKTOK: StatsSource.PRIMARY,
    Platform.INSTAGRAM: StatsSource.INSTAGRAM,
    Platform.YOUTUBE: StatsSource.YOUTUBE,
}


class Watcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        lanes: Mapping[Platform, Sequence[Lane]],
        settings: Settings,
        *,
        clock: Clock = wall,
        listers: Mapping[Platform, AccountLister] | None = None,
    ) -> None:
        """Each lane lists with its own lister; `listers` stand in for lanes without one
        (tests' single lanes)."""
        self._sessionmaker = sessionmaker
        self._lanes = lanes
        self._settings = settings
        self._clock = clock
        self._listers = listers or {}
        self.policy = Policy.from_settings(settings)

    async def check_due(self, platform: Platform) -> Counter[str]:
        """Check every due watch of the platform, claim by claim, until none is due or posts
        near their deadline wait. Returns counts by outcome."""
        totals: Counter[str] = Counter()
        ready = [
            lane
            for lane in self._lanes.get(platform, ())
            if (lane.lister or self._listers.get(platform))
            and not await lane.parked()
            and await lane.spare()
        ]
        if not ready:
            return totals
        turns = itertools.cycle(ready)
        while True:
            if await self._yielding(platform):
                break
            async with session_scope(self._sessionmaker) as session:
                due = await repo.claim(
                    session,
                    platform,
                    self._clock(),
                    self._settings.watch_claim_size,
                    timedelta(seconds=self._settings.watch_lease_seconds),
                )
            if not due:
                break
            for n, watch in enumerate(due):
                if n and await self._yielding(platform):
                    await self._release(due[n:])
                    return totals
                lane = next(turns)
                if not await lane.spare():
                    # Down to its reserve (kept for posts still tracking): the watches wait
                    # for the next sweep, which leaves this lane out until the reset.
                    await self._release(due[n:])
                    return totals
                try:
                    outcome = await self.check(watch, lane)
                except asyncio.CancelledError:
                    await self._release(due[n:])
                    raise
                except Exception as exc:  # one account never stops the others
                    log.warning("watch %s: check failed: %r", watch.id, exc)
                    await self._release([watch])
                    outcome = "failed"
                totals[outcome] += 1
        return totals

    async def _yielding(self, platform: Platform) -> bool:
        async with self._sessionmaker() as session:
            return await claims.urgent_waiting(session, platform, self._clock(), self.policy)

    async def _release(self, watches: Sequence[DueWatch]) -> None:
        with contextlib.suppress(Exception):
            async with session_scope(self._sessionmaker) as session:
                await repo.release(session, [w.id for w in watches])

    async def check(self, watch: DueWatch, lane: Lane) -> str:
        """List the account page by page (newest first, until a page has nothing new) and
        record what came of it."""
        lister = lane.lister or self._listers[watch.platform]
        sieve = watching.Sieve(watch_checks.terms(watch))
        error: FetchError | None = None
        source = _SOURCES[watch.platform]
        name = watching.listing_name(watch.platform, watch.handle, watch.platform_user_id)
        cursor: str | None = None
        async with _paced(lane) as paced:
            for _ in range(self._settings.watch_max_pages):
                async with paced():
                    page = await lister.list_page(name, cursor)
                LISTINGS.labels(watch.platform.value, lane.id, _label(page)).inc()
                if isinstance(page, FetchError):
                    error = page
                    break
                source = page.source
                more = sieve.take(page.items)
                if not (more and page.has_more and page.cursor):
                    break
                cursor = page.cursor
        if error is not None and error.kind is FetchErrorKind.AUTH:
            await lane.park(error)
        outcome = Outcome.OK if error is None else _OUTCOMES.get(error.kind, Outcome.UPSTREAM_ERROR)
        # A listing that failed after some pages adds nothing: the next check reads it again.
        kept = sieve if error is None else None
        async with session_scope(self._sessionmaker) as session:
            tally = await watch_checks.record(
                session,
                watch,
                outcome,
                None if error is None else error.message[:500],
                kept,
                source,
                self._clock(),
                self._settings,
                self.policy,
            )
        platform = watch.platform.value
        CHECKS.labels(platform, tally.outcome.value).inc()
        VIDEOS.labels(platform, "added").inc(len(tally.added))
        for reason, n in tally.skipped.items():
            VIDEOS.labels(platform, reason.value).inc(n)
        if tally.added or tally.outcome is not Outcome.OK:
            log.info(
                "watch %s (@%s): %s, %d added, skipped %s",
                watch.id,
                watch.handle,
                tally.outcome.value,
                len(tally.added),
                dict(tally.skipped),
            )
        return tally.outcome.value


def _label(page: ListResult) -> str:
    return page.kind.value if isinstance(page, FetchError) else "ok"


@contextlib.asynccontextmanager
async def _paced(
    lane: Lane,
) -> AsyncIterator[Callable[[], contextlib.AbstractAsyncContextManager[object]]]:
    """Each listing request as one batch of the lane's gate (TikTok, YouTube), its pause timed
    from when the batch is left, right after the answer; a lane without a gate paces inside
    its lister (Instagram's spacer)."""
    if lane.gate is None:
        yield contextlib.nullcontext
        return
    async with lane.gate.turns() as turns:
        yield turns.batch
