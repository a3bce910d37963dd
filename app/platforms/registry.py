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
from app.platforms.youtube import QuotaBudget, YouTubeClient
from app.settings import Settings

ClientFactory = Callable[[Settings, httpx.AsyncClient, Pace | None], StatsClient]


_SETTINGS_KEY = "from settings"


def build_tiktok(
    settings: Settings,
    http: httpx.AsyncClient,
    pace: Pace | None = None,
    *,
    primary_key: str | None = _SETTINGS_KEY,
    backup_key: str | None = _SETTINGS_KEY,
    breaker_name: str = "tiktok_primary",
) -> TikTokClient:
    """The keys default to the single-key settings; a provider lane passes its own (and
    names its own breaker, so each lane's primary is judged on its own)."""
    if primary_key == _SETTINGS_KEY:
        primary_key = settings.tiktok_primary_api_key
    if backup_key == _SETTINGS_KEY:
        backup_key = settings.tiktok_backup_api_key
    breaker = CircuitBreaker(
        breaker_name, settings.breaker_failure_threshold, settings.breaker_cooldown_seconds
    )
    metrics.BREAKER_STATE.labels(breaker.name).set_function(lambda: breaker.state)
    return TikTokClient(
        TikTokPrimary(http, settings.tiktok_primary_base_url, primary_key),
        TikTokBackup(http, settings.tiktok_backup_base_url, backup_key),
        Retrier(RetryPolicy.from_settings(settings), pace=pace),
        breaker,
        quota_cooldown_seconds=settings.provider_quota_cooldown_seconds,
    )


def build_instagram(
    settings: Settings,
    http: httpx.AsyncClient,
    pace: Pace | None = None,
    *,
    key: str | None = _SETTINGS_KEY,
) -> RetryingClient:
    if key == _SETTINGS_KEY:
        key = settings.instagram_api_key
    return RetryingClient(
        Platform.INSTAGRAM,
        InstagramProvider(http, settings.instagram_base_url, key),
        Retrier(RetryPolicy.from_settings(settings), pace=pace),
    )


def build_youtube(
    settings: Settings,
    http: httpx.AsyncClient,
    pace: Pace | None = None,
    *,
    key: str | None = _SETTINGS_KEY,
    budget: QuotaBudget | None = None,
) -> YouTubeClient:
    """Batches of up to 50 ids, one request (1 quota unit) each. `pace` is not used: a
    YouTube lane is paced batch by batch by its gate, and budgeted by `budget`."""
    if key == _SETTINGS_KEY:
        key = settings.youtube_api_key
    return YouTubeClient(
        http,
        settings.youtube_base_url,
        key,
        RetryPolicy.from_settings(settings),
        budget=budget,
        batch_size=settings.youtube_batch_size,
    )


FACTORIES: Mapping[Platform, ClientFactory] = {
    Platform.TIKTOK: build_tiktok,
    Platform.INSTAGRAM: build_instagram,
    Platform.YOUTUBE: build_youtube,
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
