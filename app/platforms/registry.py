"""Which provider serves which platform, built from settings. Adding a provider is a new
module plus one line here."""

from collections.abc import Callable, Mapping

import httpx

from app.domain.enums import Platform
from app.platforms import metrics
from app.platforms.breaker import CircuitBreaker
from app.platforms.contract import StatsClient
from app.platforms.instagram import InstagramProvider
from app.platforms.retry import Pace, Retrier, RetryingClient, RetryPolicy
from app.platforms.tiktok import TikTokClient
from app.platforms.tiktok_backup import TikTokBackup
from app.platforms.tiktok_primary import TikTokPrimary
from app.settings import Settings

ClientFactory = Callable[[Settings, httpx.AsyncClient, Pace | None], StatsClient]


def build_tiktok(
    settings: Settings, http: httpx.AsyncClient, pace: Pace | None = None
) -> TikTokClient:
    breaker = CircuitBreaker(
        "tiktok_primary", settings.breaker_failure_threshold, settings.breaker_cooldown_seconds
    )
    metrics.BREAKER_STATE.labels(breaker.name).set_function(lambda: breaker.state)
    return TikTokClient(
        TikTokPrimary(http, settings.tiktok_primary_base_url, settings.tiktok_primary_api_key),
        TikTokBackup(http, settings.tiktok_backup_base_url, settings.tiktok_backup_api_key),
        Retrier(RetryPolicy.from_settings(settings), pace=pace),
        breaker,
        quota_cooldown_seconds=settings.provider_quota_cooldown_seconds,
    )


def build_instagram(
    settings: Settings, http: httpx.AsyncClient, pace: Pace | None = None
) -> RetryingClient:
    return RetryingClient(
        Platform.INSTAGRAM,
        InstagramProvider(http, settings.instagram_base_url, settings.instagram_api_key),
        Retrier(RetryPolicy.from_settings(settings), pace=pace),
    )


FACTORIES: Mapping[Platform, ClientFactory] = {
    Platform.TIKTOK: build_tiktok,
    Platform.INSTAGRAM: build_instagram,
}


def build_clients(
    settings: Settings, http: httpx.AsyncClient, paces: Mapping[Platform, Pace] | None = None
) -> dict[Platform, StatsClient]:
    """One client per platform, sharing the process's httpx client. `paces` are optional
    per-platform hooks awaited before every provider request, retries included."""
    paces = paces or {}
    return {
        platform: factory(settings, http, paces.get(platform))
        for platform, factory in FACTORIES.items()
    }
