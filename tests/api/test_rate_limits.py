"""Rate limits per API key, held across API processes through Redis."""

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import hash_key
from app.domain.enums import Role
from app.main import create_app
from app.settings import Settings
from tests.conftest import MakeOrg, Org


async def _two_processes(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    stack: AsyncExitStack,
) -> list[FastAPI]:
    """Two API "processes": two apps of their own, sharing only PostgreSQL and Redis."""
    apps = []
    for _ in range(2):
        app = create_app(settings, engine=engine, sessionmaker=sessionmaker)
        await stack.enter_async_context(app.router.lifespan_context(app))
        apps.append(app)
    return apps


def _client(app: FastAPI, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_two_api_processes_share_one_limit_per_key(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    org: Org,
    make_org: MakeOrg,
    make_key: Callable[[Org, Role], Awaitable[str]],
) -> None:
    # Refilling one request per 1,000 s: nothing comes back while the test runs.
    strict = settings.model_copy(update={"api_rate_limit_per_second": 0.001, "api_rate_burst": 4})
    other_key = await make_key(org, Role.VIEWER)
    rival = await make_org("Rival")
    async with AsyncExitStack() as stack:
        first, second = await _two_processes(strict, engine, sessionmaker, stack)
        answers = []
        for i in range(5):  # alternate between the processes
            async with _client((first, second)[i % 2], org.key) as client:
                answers.append(await client.get("/v1/campaigns"))
        assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["3", "2", "1", "0", "0"]
        assert all(a.headers["ratelimit-limit"] == "4" for a in answers)
        assert int(answers[0].headers["ratelimit-reset"]) >= 1

        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["request_id"] == refused.headers["x-request-id"]

        # Writes are refused too, before they run.
        async with _client(second, org.key) as client:
            write = await client.post("/v1/campaigns", json={"name": "Refused"})
        assert (write.status_code, write.json()["code"]) == (429, "rate_limited")

        # Another key of the same organization, and another organization, are unaffected.
        for key in (other_key, rival.key):
            for app in (first, second):
                async with _client(app, key) as client:
                    response = await client.get("/v1/campaigns")
                assert response.status_code == 200
                assert response.headers["ratelimit-limit"] == "4"

    # Redis holds the key's hash, never the key.
    stored = {k.decode() for k in await redis.keys("ratelimit:*")}
    assert f"ratelimit:{hash_key(org.key)}" in stored
    assert not any(org.key in k for k in stored)


async def test_unauthenticated_answers_spend_no_budget_and_carry_no_limit(
    app: FastAPI, client_for: Callable[[str | None], httpx.AsyncClient]
) -> None:
    async with client_for(None) as anonymous:
        response = await anonymous.get("/v1/campaigns")
    assert response.status_code == 401
    assert "ratelimit-limit" not in response.headers


async def test_the_limit_fails_open_while_redis_is_unreachable(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
) -> None:
    down = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0", "api_rate_limit_per_second": 0.001}
    )
    app = create_app(down, engine=engine, sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app), _client(app, org.key) as client:
        for _ in range(3):
            response = await client.get("/v1/campaigns")
            assert response.status_code == 200
            assert "ratelimit-limit" not in response.headers


async def test_one_organization_wide_budget_is_shared_by_all_its_keys(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    org: Org,
    make_org: MakeOrg,
    make_key: Callable[[Org, Role], Awaitable[str]],
) -> None:
    # Each key could send 100 requests; the organization, 5 in all (nothing refills in the
    # test's time). More keys do not buy more budget.
    strict = settings.model_copy(
        update={
            "api_rate_limit_per_second": 0.001,
            "api_rate_burst": 100,
            "org_rate_limit_per_second": 0.001,
            "org_rate_burst": 5,
        }
    )
    second_key = await make_key(org, Role.VIEWER)
    rival = await make_org("Rival")
    async with AsyncExitStack() as stack:
        first, second = await _two_processes(strict, engine, sessionmaker, stack)
        answers = []
        for i in range(6):  # two keys of one organization, alternating, across two processes
            async with _client((first, second)[i % 2], (org.key, second_key)[i % 2]) as client:
                answers.append(await client.get("/v1/campaigns"))
        assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 429]
        # The headers tell the budget that binds: the organization's.
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
        assert all(a.headers["ratelimit-limit"] == "5" for a in answers)
        refused = answers[-1]
        assert refused.json()["code"] == "rate_limited"
        assert "organization" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        async with _client(first, org.key) as client:
            assert (await client.get("/v1/campaigns")).status_code == 429  # both keys

        # Another organization has its own budget.
        for app in (first, second):
            async with _client(app, rival.key) as client:
                response = await client.get("/v1/campaigns")
            assert response.status_code == 200
            assert response.headers["ratelimit-remaining"] == str(5 - 1 - (app is second))

    # A refused request spends nothing: the first key's own bucket holds the three requests
    # it was served (1,000 s each at this rate), not the one the organization refused.
    seconds, micros = await redis.time()
    tat = int(await redis.get(f"ratelimit:{hash_key(org.key)}"))
    assert 2990 < (tat - (seconds * 1_000_000 + micros)) / 1_000_000 <= 3000
    assert await redis.exists(f"ratelimit:org:{org.id}", f"ratelimit:org:{rival.id}") == 2
