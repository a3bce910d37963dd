"""Building the clients from settings, the shared httpx client, and the metrics they feed."""

import httpx
from prometheus_client import REGISTRY

from app.domain.enums import Platform, StatsSource
from app.platforms.contract import FetchError, FetchErrorKind, VideoRef, VideoStats
from app.platforms.http import build_http_client
from app.platforms.registry import build_clients
from app.platforms.sandbox import Sandbox
from app.settings import Settings
from tests.platforms.conftest import SANDBOX_URL


def sandbox_settings(**overrides: object) -> Settings:
    return Settings(
        tiktok_primary_base_url=SANDBOX_URL,
        tiktok_backup_base_url=SANDBOX_URL,
        instagram_base_url=SANDBOX_URL,
        provider_mode="sandbox",
        **overrides,  # type: ignore[arg-type]
    )


def sample_value(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_http_client_takes_timeouts_from_settings() -> None:
    # Its connection limit: tests/platforms/test_http_client.py.
    async with build_http_client(Settings(http_timeout_seconds=4.5)) as http:
        assert http.timeout == httpx.Timeout(4.5)
        assert http.follow_redirects is False


async def test_build_clients_serves_every_platform_through_one_http_client(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    clients = build_clients(sandbox_settings(), http)
    assert set(clients) == set(Platform)
    assert all(client.platform is platform for platform, client in clients.items())
    tiktok = await clients[Platform.TIKTOK].fetch(VideoRef(Platform.TIKTOK, "7412345678901234567"))
    instagram = await clients[Platform.INSTAGRAM].fetch(VideoRef(Platform.INSTAGRAM, "DF5s0duxDts"))
    assert isinstance(tiktok, VideoStats)
    assert isinstance(instagram, VideoStats)
    assert (tiktok.source, instagram.source) == (StatsSource.PRIMARY, StatsSource.INSTAGRAM)
    assert [r.provider for r in sandbox.requests] == ["tiktok_primary", "instagram"]


async def test_keys_from_settings_reach_the_providers(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    clients = build_clients(sandbox_settings(instagram_api_key="bad-key"), http)
    result = await clients[Platform.INSTAGRAM].fetch(VideoRef(Platform.INSTAGRAM, "DF5s0duxDts"))
    assert isinstance(result, FetchError)
    assert (result.kind, result.source) == (FetchErrorKind.AUTH, StatsSource.INSTAGRAM)
    assert len(sandbox.requests) == 1  # auth errors are not retried


async def test_paces_are_awaited_per_platform(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    calls: list[str] = []

    async def instagram_pace() -> None:
        calls.append("instagram")

    clients = build_clients(sandbox_settings(), http, paces={Platform.INSTAGRAM: instagram_pace})
    await clients[Platform.TIKTOK].fetch(VideoRef(Platform.TIKTOK, "7412345678901234567"))
    await clients[Platform.INSTAGRAM].fetch(VideoRef(Platform.INSTAGRAM, "DF5s0duxDts"))
    assert calls == ["instagram"]


async def test_metrics_count_requests_fetches_and_breaker_state(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    settings = sandbox_settings(
        provider_max_attempts=2,
        provider_backoff_base_seconds=0.0,
        breaker_failure_threshold=2,
        breaker_cooldown_seconds=600.0,
    )
    clients = build_clients(settings, http)
    primary_500 = {"provider": "primary", "outcome": "upstream"}
    backup_ok = {"provider": "backup", "outcome": "ok"}
    requests_before = sample_value("viewledger_provider_requests_total", primary_500)
    fetches_before = sample_value("viewledger_fetches_total", backup_ok)
    latency_before = sample_value(
        "viewledger_provider_request_seconds_count", {"provider": "primary"}
    )
    state = {"breaker": "tiktok_primary"}
    assert sample_value("viewledger_breaker_state", state) == 0

    sandbox.faults.tiktok_primary = "500"
    result = await clients[Platform.TIKTOK].fetch(VideoRef(Platform.TIKTOK, "7412345678901234567"))

    assert result.source is StatsSource.BACKUP
    assert sample_value("viewledger_provider_requests_total", primary_500) == requests_before + 2
    assert sample_value("viewledger_fetches_total", backup_ok) == fetches_before + 1
    assert (
        sample_value("viewledger_provider_request_seconds_count", {"provider": "primary"})
        == latency_before + 2
    )
    assert sample_value("viewledger_breaker_state", state) == 1
