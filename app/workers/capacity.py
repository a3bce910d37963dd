"""Capacity, visible: per provider, the fetches per hour the schedule needs, the fetches per
hour its lanes can do, and how stale each freshness class is (p50, p99, max of the age of
the posts' stats). The worker computes them every CAPACITY_INTERVAL_SECONDS (from its
heartbeat), sets its gauges and publishes them in Redis, where /health/ready reads them.

Two statements (repositories/capacity.py): one grouped aggregate over the posts inside the
refresh window (counts and the oldest stats, exact), and percentiles over a bounded sample
of the table (`TABLESAMPLE SYSTEM`, about CAPACITY_SAMPLE_SIZE rows).

YouTube's budget is its keys' daily quota, so its figures are also in quota units per day:
the units the schedule needs (a unit refreshes a batch of up to 50 posts; the listings and
the daily handle check of 50 channels a unit come on top), the units its
keys have, the units left today and how many keys have spent theirs until the reset."""

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Gauge
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import schedule
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.domain.schedule import Freshness
from app.platforms.youtube_channels import BATCH_MAX as YOUTUBE_CHANNELS_PER_CALL
from app.repositories import capacity as capacity_repo
from app.services.readiness import CAPACITY_KEY
from app.settings import Settings
from app.workers.lanes import fetches_per_hour
from app.workers.quota import QuotaState

NEEDED = Gauge(
    "viewledger_capacity_needed_fetches_per_hour",
    "Fetches per hour the refresh schedule needs, by provider (account listings included).",
    ["platform"],
)
LISTINGS = Gauge(
    "viewledger_capacity_needed_listings_per_hour",
    "Account listings per hour the enabled watched accounts need (at least one page each "
    "per WATCH_INTERVAL_HOURS), by provider; part of the needed fetches.",
    ["platform"],
)
UNITS_NEEDED = Gauge(
    "viewledger_capacity_needed_units_per_day",
    "Quota units per day the refresh schedule needs (YouTube).",
    ["platform"],
)
UNITS_AVAILABLE = Gauge(
    "viewledger_capacity_available_units_per_day",
    "Quota units per day the provider's unparked keys have (YouTube).",
    ["platform"],
)
UNITS_LEFT = Gauge(
    "viewledger_quota_units_left_today",
    "Quota units left until the next reset, over all keys (YouTube: midnight Pacific).",
    ["platform"],
)
AVAILABLE = Gauge(
    "viewledger_capacity_available_fetches_per_hour",
    "Fetches per hour the provider's unparked lanes can do at the configured pace.",
    ["platform"],
)
LANES = Gauge("viewledger_lanes", "Provider lanes, by state.", ["platform", "state"])
STALENESS = Gauge(
    "viewledger_staleness_seconds",
    "Age of the posts' stats by freshness class (quantile 0.5 and 0.99 over a sample; 1: "
    "the oldest).",
    ["platform", "class", "quantile"],
)
POSTS = Gauge(
    "viewledger_refreshed_posts", "Posts in the refresh window, by class.", ["platform", "class"]
)
# Beside the staleness: what each class's p99 is held against (deploy/prometheus/alerts.yaml),
# so the alert follows ACTIVE_/FINALIZED_REFRESH_INTERVAL_HOURS rather than copying them.
STALENESS_INTERVAL = Gauge(
    "viewledger_staleness_interval_seconds",
    "The refresh interval each freshness class is meant to keep its posts' stats within.",
    ["platform", "class"],
)


@dataclass
class Staleness:
    posts: int
    interval_s: float
    p50_s: float | None = None
    p99_s: float | None = None
    max_s: float | None = None


@dataclass
class ProviderCapacity:
    needed_per_hour: float
    available_per_hour: float
    lanes: int
    parked_lanes: int
    staleness: dict[str, Staleness] = field(default_factory=dict)
    # Watched accounts' listings, part of `needed_per_hour`: a listing is a request at the
    # lanes' pace like a fetch.
    watched_accounts: int = 0
    listings_per_hour: float = 0.0
    # Quota-budgeted providers (YouTube): the same demand and capacity in units per day, the
    # units left today, the keys whose quota is spent, and when quotas reset (ISO 8601).
    needed_units_per_day: float | None = None
    available_units_per_day: float | None = None
    units_left_today: int | None = None
    # Part of `needed_units_per_day`: the daily handle check of YouTube creators' channels
    # (channels.list, 50 channels a unit, each channel once per YOUTUBE_HANDLE_CHECK_HOURS).
    handle_check_units_per_day: float | None = None
    exhausted_lanes: int = 0
    resets_at: str | None = None

    @property
    def overloaded(self) -> bool:
        return self.needed_per_hour > self.available_per_hour


async def measure(
    session: AsyncSession,
    now: datetime,
    policy: Policy,
    settings: Settings,
    lanes: Mapping[Platform, tuple[int, int]],  # platform -> (lanes, parked lanes)
    watched: Mapping[Platform, int] | None = None,  # enabled watched accounts
    quotas: Mapping[Platform, list[QuotaState]] | None = None,  # the unparked lanes' quotas
    channels: int = 0,  # YouTube creators known by channel id (their handles are checked)
) -> dict[Platform, ProviderCapacity]:
    cadence = policy.cadence
    exact = await capacity_repo.freshness_classes(session, now, policy)
    result = {
        p: ProviderCapacity(
            0.0,
            _lanes_per_hour(settings, p, lanes.get(p, (1, 0))),
            *lanes.get(p, (1, 0)),
            staleness={
                c.value: Staleness(0, schedule.interval_of(c, cadence).total_seconds())
                for c in Freshness
            },
        )
        for p in Platform
    }
    for platform, name, count, oldest in exact:
        if name is None:
            continue
        entry = result[Platform(platform)].staleness[name]
        entry.posts, entry.max_s = count, None if oldest is None else float(oldest)
        result[Platform(platform)].needed_per_hour += count * 3600 / entry.interval_s

    # Each enabled watch lists its account once an interval (one page when nothing is new).
    for platform, count in (watched or {}).items():
        if platform not in result:
            continue
        figures = result[platform]
        figures.watched_accounts = count
        figures.listings_per_hour = count / settings.watch_interval_hours
        figures.needed_per_hour += figures.listings_per_hour

    # Percentiles over a sample of pages: bounded work whatever the table's size.
    rows = await capacity_repo.sampled_staleness(
        session, now, policy, settings.capacity_sample_size
    )
    for platform, name, p50, p99 in rows:
        if name is None:
            continue
        entry = result[Platform(platform)].staleness[name]
        entry.p50_s, entry.p99_s = float(p50), float(p99)
    for platform, states in (quotas or {}).items():
        _in_units(result[platform], settings, states, channels)
    return result


def _in_units(
    figures: ProviderCapacity, settings: Settings, states: list[QuotaState], channels: int
) -> None:
    """YouTube: a unit buys a batch of YOUTUBE_BATCH_SIZE refreshes, one page of a watched
    channel's uploads, or the handles of 50 channels."""
    per_unit = settings.youtube_batch_size
    fetches = figures.needed_per_hour - figures.listings_per_hour
    calls = math.ceil(channels / YOUTUBE_CHANNELS_PER_CALL)
    figures.handle_check_units_per_day = calls * 24 / settings.youtube_handle_check_hours
    figures.needed_units_per_day = (
        fetches / per_unit + figures.listings_per_hour
    ) * 24 + figures.handle_check_units_per_day
    figures.available_units_per_day = figures.available_per_hour * 24 / per_unit
    figures.units_left_today = sum(s.remaining for s in states)
    figures.exhausted_lanes = sum(s.exhausted for s in states)
    resets = [s.resets_at for s in states]
    figures.resets_at = min(resets).isoformat() if resets else None


def _lanes_per_hour(settings: Settings, platform: Platform, lanes: tuple[int, int]) -> float:
    total, parked = lanes
    return fetches_per_hour(settings, platform, total - parked)


def export(figures: Mapping[Platform, ProviderCapacity]) -> None:
    """Set the worker's gauges."""
    for platform, f in figures.items():
        p = platform.value
        NEEDED.labels(p).set(f.needed_per_hour)
        LISTINGS.labels(p).set(f.listings_per_hour)
        AVAILABLE.labels(p).set(f.available_per_hour)
        if f.needed_units_per_day is not None:
            UNITS_NEEDED.labels(p).set(f.needed_units_per_day)
            UNITS_AVAILABLE.labels(p).set(f.available_units_per_day or 0.0)
            UNITS_LEFT.labels(p).set(f.units_left_today or 0)
            LANES.labels(p, "quota_spent").set(f.exhausted_lanes)
        LANES.labels(p, "active").set(f.lanes - f.parked_lanes)
        LANES.labels(p, "parked").set(f.parked_lanes)
        for name, s in f.staleness.items():
            POSTS.labels(p, name).set(s.posts)
            STALENESS_INTERVAL.labels(p, name).set(s.interval_s)
            for quantile, value in (("0.5", s.p50_s), ("0.99", s.p99_s), ("1", s.max_s)):
                STALENESS.labels(p, name, quantile).set(value or 0.0)


def to_json(figures: Mapping[Platform, ProviderCapacity]) -> dict[str, Any]:
    return {
        "at": time.time(),
        "providers": {
            p.value: {**asdict(f), "overloaded": f.overloaded} for p, f in figures.items()
        },
    }


async def publish(
    redis: Redis, figures: Mapping[Platform, ProviderCapacity], ttl_seconds: float
) -> None:
    await redis.set(
        CAPACITY_KEY, json.dumps(to_json(figures)), px=max(round(ttl_seconds * 1000), 1)
    )
