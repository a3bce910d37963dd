"""YouTube's daily quota as a lane's budget, held for the whole deployment in Redis.

Each YouTube key is a lane with YOUTUBE_DAILY_QUOTA_UNITS units a day (Google's default is
10,000); a videos.list call of up to 50 ids costs 1 unit, whatever it answers. The day is
Google's: it resets at midnight America/Los_Angeles. A counter per lane and Pacific day
(`viewledger:quota:youtube:<lane id>:<YYYY-MM-DD>`) counts the units spent; a request first
takes a unit (`spend`), atomically, and is not sent when none is left. When YouTube itself
answers quotaExceeded (another program shares the key, or Google counts differently), the
counter is set to the whole day's units (`spent`). Either way the lane is exhausted until the
reset: its posts stay due (they are not failed) and wait for the new day, and the capacity
figures and /health/ready show the lane as spent, with when it resets.

Spending follows the claim order (app/repositories/claims.py): posts near their 7-day
deadline first, then the other tracking posts, then finalized and paid ones. Below
YOUTUBE_QUOTA_RESERVE_UNITS left, a lane claims no finalized or paid posts, so the units
left go to posts whose money is not decided yet. Watched channels' listings and the
channels' handle checks (app/workers/handles.py) spend only the units above the reserve
(`DailyQuota.sparing`)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from prometheus_client import Gauge
from redis.asyncio import Redis

from app.domain.enums import Platform

PACIFIC = ZoneInfo("America/Los_Angeles")
PREFIX = "viewledger:quota:youtube"
# A day's counter outlives its day (a worker clock a little behind still finds it).
_KEEP_SECONDS = 2 * 24 * 3600

UNITS_USED = Gauge(
    "viewledger_quota_units_used",
    "Quota units a lane spent today (YouTube: since midnight Pacific time).",
    ["platform", "lane"],
)

# Take `units` unless that would pass the limit (the day's units, less any kept back):
# returns the units used after, or -1.
_SPEND = """
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used == tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
if used > tonumber(ARGV[2]) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return -1
end
return used
"""
# The API said the quota is spent: nothing is left today, whatever we counted.
_SPENT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def pacific_day(moment: datetime) -> str:
    return moment.astimezone(PACIFIC).date().isoformat()


def next_reset(moment: datetime) -> datetime:
    """The next midnight in America/Los_Angeles (daylight saving included), in UTC."""
    local = moment.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)
    return midnight.astimezone(UTC)


@dataclass(frozen=True)
class QuotaState:
    used: int
    daily: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(self.daily - self.used, 0)

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


class DailyQuota:
    """One lane's units for the Pacific day (a `QuotaBudget` for the YouTube client)."""

    def __init__(
        self,
        redis: Redis,
        lane: str,
        daily_units: int,
        *,
        reserve_units: int = 0,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._redis = redis
        self.lane = lane
        self.daily = daily_units
        self.reserve = reserve_units
        self._now = now
        self._spend = redis.register_script(_SPEND)
        self._spent = redis.register_script(_SPENT)

    def key(self, moment: datetime | None = None) -> str:
        return f"{PREFIX}:{self.lane}:{pacific_day(moment or self._now())}"

    async def spend(self, units: int, *, keep: int = 0) -> bool:
        """Take `units` unless fewer than `keep` would be left after (none left: False)."""
        limit = self.daily - keep
        used = int(await self._spend(keys=[self.key()], args=[units, limit, _KEEP_SECONDS]))
        if used >= 0:
            UNITS_USED.labels(Platform.YOUTUBE.value, self.lane).set(used)
        return used >= 0

    async def spent(self) -> None:
        await self._spent(keys=[self.key()], args=[self.daily, _KEEP_SECONDS])
        UNITS_USED.labels(Platform.YOUTUBE.value, self.lane).set(self.daily)

    async def state(self) -> QuotaState:
        now = self._now()
        used = int(await self._redis.get(self.key(now)) or 0)
        return QuotaState(min(used, self.daily), self.daily, next_reset(now))

    async def exhausted(self) -> bool:
        return (await self.state()).exhausted

    async def above_reserve(self) -> bool:
        """Whether finalized and paid posts (and listings, handle checks) may still be spent
        on today."""
        return (await self.state()).remaining > self.reserve

    def sparing(self) -> "AboveReserve":
        """The units above the reserve, as a budget of their own: what watched channels'
        listings and the channels' handle checks spend, so the last
        YOUTUBE_QUOTA_RESERVE_UNITS of a day stay for posts whose money is not decided."""
        return AboveReserve(self)


class AboveReserve:
    """A `QuotaBudget` that takes units only while more than the lane's reserve would be
    left after: the check and the take are one Redis script, so two processes cannot both
    take the last unit above it."""

    def __init__(self, quota: DailyQuota) -> None:
        self.quota = quota

    async def spend(self, units: int) -> bool:
        return await self.quota.spend(units, keep=self.quota.reserve)

    async def spent(self) -> None:
        await self.quota.spent()
