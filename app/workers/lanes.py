"""Provider lanes: each credential of a provider is a lane with its own pacing at the seed's
pace (TikTok: batches of 10, a pause after each; Instagram: one request in flight, the next
3 s after its answer), held across every worker process through Redis keys named after a hash of the
credential, never the credential itself. The refresher runs one claim loop per lane, so a
provider with N keys fetches N times as fast.

A lane whose key the provider refuses (a 401/403 that no fallback answered) is parked for
LANE_PARK_SECONDS, deployment-wide (a Redis key with that expiry), reported in the metrics and
the log (by its hash), and tried again after that; the posts it could not fetch go back to
the queue at once for the other lanes.

A YouTube lane also has a daily quota (app/workers/quota.py): while it is spent the lane is
idle like a parked one, until midnight Pacific time."""

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from app.domain.enums import Platform
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, StatsClient
from app.platforms.listings import AccountLister, build_listers
from app.platforms.metrics import outcome
from app.platforms.registry import build_instagram, build_tiktok, build_youtube
from app.platforms.retry import Retrier, RetryPolicy
from app.platforms.youtube_channels import YouTubeChannels
from app.settings import ProviderMode, Settings
from app.workers.pacing import BatchGate, Spacer
from app.workers.quota import DailyQuota
from app.workers.quota import utcnow as quota_clock

log = logging.getLogger(__name__)

LANE_FETCHES = Counter(
    "viewledger_lane_fetches_total",
    "Videos fetched through each provider lane, by outcome.",
    ["platform", "lane", "outcome"],
)
LANE_PARKED = Gauge(
    "viewledger_lane_parked",
    "1 while this process knows the lane is parked (its key refused), else 0.",
    ["platform", "lane"],
)
LANE_PARKS = Counter(
    "viewledger_lane_parks_total",
    "Times a lane was parked because the provider refused its key.",
    ["platform", "lane"],
)
PARKED_PREFIX = "viewledger:lane-parked"


def lane_id(key: str | None) -> str:
    """A lane's name in Redis keys, metrics and logs: a short hash of its credential."""
    if key is None:
        return "keyless"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass(eq=False)
class Lane:
    platform: Platform
    id: str
    client: StatsClient
    gate: BatchGate | None
    parking: "Parking | None" = None
    # Lists watched accounts (issue 29) with the lane's key, at the lane's pace: TikTok and
    # YouTube listings are batches of the lane's gate, Instagram's go through its spacer.
    lister: AccountLister | None = None
    quota: DailyQuota | None = None  # YouTube: the key's daily units
    # YouTube: channels' @handles (channels.list), from the units above the reserve.
    channels: YouTubeChannels | None = None
    # Instagram: what paces every request of the lane, the client's and the lister's.
    spacer: Spacer | None = None

    def observe(self, result: FetchResult) -> None:
        LANE_FETCHES.labels(self.platform.value, self.id, outcome(result)).inc()

    async def parked(self) -> bool:
        """Parked (its key refused), or its daily quota spent until the reset."""
        if self.quota is not None and await self.quota.exhausted():
            return True
        if self.parking is None:
            return False
        parked = await self.parking.is_parked(self)
        LANE_PARKED.labels(self.platform.value, self.id).set(1 if parked else 0)
        return parked

    async def spare(self) -> bool:
        """Units above the reserve left today (a lane without a quota always has): what
        listings and handle checks may spend, never the reserve kept for tracking posts."""
        return self.quota is None or await self.quota.above_reserve()

    async def park(self, why: FetchError) -> None:
        if self.parking is not None:
            await self.parking.park(self, why)


def refused(result: FetchResult) -> bool:
    """The provider refused the lane's credential: nothing about the video."""
    return isinstance(result, FetchError) and result.kind is FetchErrorKind.AUTH


def out_of_quota(lane: Lane, result: FetchResult) -> bool:
    """A budgeted lane's quota is spent: nothing about the video, which waits for the reset."""
    return (
        lane.quota is not None
        and isinstance(result, FetchError)
        and result.kind is FetchErrorKind.QUOTA_EXHAUSTED
    )


class Parking:
    """Which lanes are parked, deployment-wide."""

    def __init__(self, redis: Redis, park_seconds: float) -> None:
        self._redis = redis
        self._park_ms = max(round(park_seconds * 1000), 1)

    @staticmethod
    def key(lane: Lane) -> str:
        return f"{PARKED_PREFIX}:{lane.platform.value}:{lane.id}"

    async def is_parked(self, lane: Lane) -> bool:
        return bool(await self._redis.exists(self.key(lane)))

    async def park(self, lane: Lane, why: FetchError) -> None:
        await self._redis.set(self.key(lane), "1", px=self._park_ms)
        LANE_PARKS.labels(lane.platform.value, lane.id).inc()
        LANE_PARKED.labels(lane.platform.value, lane.id).set(1)
        # The lane's hash and the error's kind and source only: never the key, and not the
        # provider's message (a gateway may echo what it was sent).
        log.warning(
            "%s lane %s parked for %gs: the provider refused its key (%s from %s)",
            lane.platform.value,
            lane.id,
            self._park_ms / 1000,
            why.kind.value,
            why.source.value,
        )

    async def parked_ids(self, platform: Platform) -> set[str]:
        prefix = f"{PARKED_PREFIX}:{platform.value}:"
        return {
            key.decode()[len(prefix) :] async for key in self._redis.scan_iter(match=prefix + "*")
        }


def build(
    settings: Settings, http: httpx.AsyncClient, redis: Redis, *, parking: Parking | None = None
) -> dict[Platform, list[Lane]]:
    """Every provider's lanes, from the settings' keys. Their gates and spacers live in Redis
    under `viewledger:pace:<platform>:<lane id>`."""
    parking = parking or Parking(redis, settings.lane_park_seconds)
    longest = settings.provider_deadline_seconds
    lanes: dict[Platform, list[Lane]] = {}

    primaries = settings.lane_keys(
        settings.tiktok_primary_api_key, settings.tiktok_primary_api_keys
    )
    backups = settings.lane_keys(settings.tiktok_backup_api_key, settings.tiktok_backup_api_keys)
    tiktok = []
    for n, key in enumerate(primaries):
        name = lane_id(key)
        client = build_tiktok(
            settings,
            http,
            primary_key=key,
            backup_key=backups[n % len(backups)],
            breaker_name="tiktok_primary" if len(primaries) == 1 else f"tiktok_primary:{name}",
        )
        gate = BatchGate(
            redis, f"viewledger:pace:tiktok:{name}", settings.tiktok_batch_pause_seconds, longest
        )
        lister = build_listers(settings, http, tiktok_key=key)[Platform.TIKTOK]
        tiktok.append(Lane(Platform.TIKTOK, name, client, gate, parking, lister))
    lanes[Platform.TIKTOK] = tiktok

    instagram = []
    for key in settings.lane_keys(settings.instagram_api_key, settings.instagram_api_keys):
        name = lane_id(key)
        # One request in flight, the next one a spacing after its answer: the spacer alone
        # paces the lane (retries included), so the lane needs no gate of its own.
        spacer = Spacer(
            redis,
            f"viewledger:pace:instagram:{name}",
            settings.instagram_request_spacing_seconds,
            longest,
        )
        listers = build_listers(settings, http, {Platform.INSTAGRAM: spacer}, instagram_key=key)
        instagram.append(
            Lane(
                Platform.INSTAGRAM,
                name,
                build_instagram(settings, http, spacer, key=key),
                None,
                parking,
                listers[Platform.INSTAGRAM],
                spacer=spacer,
            )
        )
    lanes[Platform.INSTAGRAM] = instagram
    lanes[Platform.YOUTUBE] = youtube_lanes(settings, http, redis, parking)
    return lanes


def youtube_keys(settings: Settings) -> list[str | None]:
    """YouTube's keys, one lane each. Live mode with none has no lane (Google refuses
    keyless calls); the sandbox takes keyless ones."""
    keys = settings.lane_keys(settings.youtube_api_key, settings.youtube_api_keys)
    if keys == [None] and settings.provider_mode is ProviderMode.LIVE:
        return []
    return keys


def youtube_lanes(
    settings: Settings,
    http: httpx.AsyncClient,
    redis: Redis,
    parking: "Parking | None",
    *,
    now: Callable[[], datetime] = quota_clock,
) -> list[Lane]:
    """Each key a lane: its client fetches batches of up to 50 ids, one unit each, out of the
    key's daily quota; its lister reads watched channels' uploads, a unit a page, and its
    channel reader up to 50 channels' handles, a unit a call, out of the same quota's units
    above YOUTUBE_QUOTA_RESERVE_UNITS (those are kept for posts still tracking); its gate
    spaces the batches, pages and calls YOUTUBE_BATCH_PAUSE_SECONDS apart."""
    lanes = []
    for key in youtube_keys(settings):
        name = lane_id(key)
        quota = DailyQuota(
            redis,
            name,
            settings.youtube_daily_quota_units,
            reserve_units=settings.youtube_quota_reserve_units,
            now=now,
        )
        gate = BatchGate(
            redis,
            f"viewledger:pace:youtube:{name}",
            settings.youtube_batch_pause_seconds,
            settings.provider_deadline_seconds,
        )
        client = build_youtube(settings, http, key=key, budget=quota)
        # Watched channels' uploads pages and handle checks (1 unit each) spend the same
        # quota, but never its reserve: a deadline fetch outranks them.
        sparing = quota.sparing()
        lister = build_listers(settings, http, youtube_key=key, youtube_budget=sparing)
        channels = YouTubeChannels(
            http,
            settings.youtube_base_url,
            key,
            Retrier(RetryPolicy.from_settings(settings)),
            sparing,
        )
        lanes.append(
            Lane(
                Platform.YOUTUBE,
                name,
                client,
                gate,
                parking,
                lister[Platform.YOUTUBE],
                quota=quota,
                channels=channels,
            )
        )
    return lanes


def single(
    clients: Mapping[Platform, StatsClient], gates: Mapping[Platform, BatchGate]
) -> dict[Platform, list[Lane]]:
    """One unparkable lane per platform from ready-made clients (tests, older callers): a
    refused key is then recorded on the post like any other error."""
    return {p: [Lane(p, "default", c, gates.get(p))] for p, c in clients.items()}


def fetches_per_hour(settings: Settings, platform: Platform, lanes: int) -> float:
    """What `lanes` lanes of a provider can fetch in an hour at the configured pace (YouTube:
    their daily units spread over the day, a batch of videos per unit)."""
    if platform is Platform.YOUTUBE:
        return lanes * settings.youtube_daily_quota_units * settings.youtube_batch_size / 24
    if platform is Platform.TIKTOK:
        per_batch = settings.tiktok_batch_pause_seconds + settings.tiktok_batch_latency_seconds
        return lanes * settings.tiktok_batch_size * 3600 / max(per_batch, 1e-3)
    per_request = (
        settings.instagram_request_spacing_seconds + settings.instagram_request_latency_seconds
    )
    return lanes * 3600 / max(per_request, 1e-3)


def active(lanes: Sequence[Lane], parked: set[str]) -> int:
    return sum(1 for lane in lanes if lane.id not in parked)
