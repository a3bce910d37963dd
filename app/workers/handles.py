"""The YouTube handle check: a creator's @handle follows the channel's, as on the other
platforms. videos.list names a video's channel by id and display title only, so this job asks
channels.list (`part=snippet`, up to 50 channel ids a call, 1 quota unit a call) for the
handle (`snippet.customUrl`) of every YouTube creator known by channel id, each at most once
per YOUTUBE_HANDLE_CHECK_HOURS, and hands the answers to the service that renames the
creators (services/handle_checks.py: the same writer and `creator.renamed` webhook as a
rename seen on a fetch).

Its units come from the lanes' daily quotas, taken before each call, and only from the units
above YOUTUBE_QUOTA_RESERVE_UNITS (kept for posts still tracking); like the listings it also
stops while posts near their deadline wait. A lane with none left sends nothing: its
channels go back to being due and wait for the next run after the reset. A call that failed
for another reason leaves its channels claimed: they come due again one lease later."""

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from prometheus_client import Counter as Metric
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock, wall
from app.db import session_scope
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.youtube_channels import BATCH_MAX, ChannelsResult, YouTubeChannels
from app.repositories import claims
from app.services import handle_checks
from app.settings import Settings
from app.workers.lanes import Lane

log = logging.getLogger(__name__)

CHECKS = Metric(
    "viewledger_handle_checks_total",
    "YouTube channels whose @handle was asked of channels.list, by outcome: checked "
    "(renamed or not), renamed, or the error that stopped the call.",
    ["outcome"],
)
# A claim's hold on its channels: far longer than one call with its retries.
LEASE = timedelta(minutes=15)


class HandleChecker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        lanes: Sequence[Lane],
        settings: Settings,
        *,
        clock: Clock = wall,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._lanes = list(lanes)
        self._settings = settings
        self._clock = clock
        self.policy = Policy.from_settings(settings)

    @property
    def every(self) -> timedelta:
        return timedelta(hours=self._settings.youtube_handle_check_hours)

    async def check_due(self) -> Counter[str]:
        """Check every due channel, 50 a call, lane by lane in turns, until none is due, no
        lane has units above its reserve, or posts near their deadline wait."""
        totals: Counter[str] = Counter()
        ready = [lane for lane in self._lanes if lane.channels is not None]
        turn = 0
        while True:
            ready = [lane for lane in ready if not await lane.parked() and await lane.spare()]
            if not ready or await self._yielding():
                return totals
            lane = ready[turn % len(ready)]
            turn += 1
            async with session_scope(self._sessionmaker) as session:
                claimed = await handle_checks.claim(
                    session, self._clock(), self.every, LEASE, BATCH_MAX
                )
            if not claimed.channels:
                return totals
            outcome = await self._check(lane, claimed)
            totals[outcome] += len(claimed.channels)
            if outcome == "checked":
                continue
            if outcome in (FetchErrorKind.QUOTA_EXHAUSTED.value, FetchErrorKind.AUTH.value):
                ready.remove(lane)  # the lane's problem, not the channels': another lane may
                continue
            return totals  # the provider failed: the claimed channels wait for their lease

    async def _yielding(self) -> bool:
        async with self._sessionmaker() as session:
            return await claims.urgent_waiting(
                session, Platform.YOUTUBE, self._clock(), self.policy
            )

    async def _check(self, lane: Lane, claimed: handle_checks.Claim) -> str:
        reader = lane.channels
        assert reader is not None
        answer = await self._call(lane, reader, [c.channel_id for c in claimed.channels])
        if isinstance(answer, FetchError):
            CHECKS.labels(answer.kind.value).inc(len(claimed.channels))
            if answer.kind is FetchErrorKind.AUTH:
                await lane.park(answer)
            if answer.kind in (FetchErrorKind.QUOTA_EXHAUSTED, FetchErrorKind.AUTH):
                async with session_scope(self._sessionmaker) as session:
                    await handle_checks.release(session, claimed, claimed.channels)
            else:
                log.warning(
                    "handle check of %d channels failed: %s",
                    len(claimed.channels),
                    answer.message[:200],
                )
            return answer.kind.value
        async with session_scope(self._sessionmaker) as session:
            renamed = await handle_checks.record(
                session, claimed.channels, answer.handles, self._clock()
            )
        CHECKS.labels("checked").inc(len(claimed.channels))
        CHECKS.labels("renamed").inc(len(renamed))
        if renamed:
            log.info("handle check: %d YouTube creators renamed", len(renamed))
        return "checked"

    @staticmethod
    async def _call(lane: Lane, reader: YouTubeChannels, ids: list[str]) -> ChannelsResult:
        """One call, as one batch of the lane's gate (spaced like its videos.list calls)."""
        if lane.gate is None:
            return await reader.handles(ids)
        async with lane.gate.turns() as turns, turns.batch():
            return await reader.handles(ids)
