"""Tests run against the real PostgreSQL and Redis on 127.0.0.1. The session builds a fresh
database by running the migrations; each test runs inside a transaction that is rolled back,
with the app's commits turned into savepoints."""

import gc
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from redis.asyncio import Redis
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.cli import drop_database, ensure_database
from app.db import Base, create_engine
from app.domain.enums import Role
from app.main import create_app, serving
from app.repositories import api_keys
from app.settings import PROJECT_ROOT, Settings

pytest_plugins = ["tests.engine_kit"]
# The generated clients' code (tests/clients/generated) is not ours to collect: a module like
# api/webhooks/webhook_endpoints_test.py matches pytest's pattern.
collect_ignore = ["clients"]

# Timing is measured in bench/, never asserted in tests: a slow example on a busy machine is
# not a failure.
hypothesis_settings.register_profile("viewledger", deadline=None)
hypothesis_settings.load_profile("viewledger")


def _test_settings() -> Settings:
    # `make test` runs two pytest-xdist workers (gw0, gw1): each has its own database and
    # Redis database, so one worker's fresh schema or FLUSHDB never meets the other's tests.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker.removeprefix("gw") or 0)
    base = make_url(os.environ.get("DATABASE_URL", Settings().database_url))
    url = os.environ.get("TEST_DATABASE_URL") or base.set(
        database=f"{base.database}_test{'_' + worker if worker else ''}"
    ).render_as_string(hide_password=False)
    return Settings(
        database_url=url,
        redis_url=os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - index}"),
        # Tests send bursts far above a client's budget; tests of the limit set their own.
        api_rate_limit_per_second=1000,
        api_rate_burst=100_000,
        org_rate_limit_per_second=1000,
        org_rate_burst=100_000,
        # Likewise the per-address budgets of the portal's sign-in and Discord's interactions
        # (every test client is 127.0.0.1).
        portal_requests_per_minute=60_000,
        portal_request_burst=100_000,
        discord_requests_per_second=1000,
        discord_request_burst=100_000,
    )


@pytest.fixture(scope="session")
def settings() -> Settings:
    return _test_settings()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    await drop_database(settings)
    await ensure_database(settings)
    engine = create_engine(settings)
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["configure_logger"] = False
    async with engine.begin() as conn:
        config.attributes["connection"] = None

        def upgrade(sync_conn: object) -> None:
            config.attributes["connection"] = sync_conn
            command.upgrade(config, "head")

        await conn.run_sync(upgrade)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def outbound_transport() -> httpx.AsyncBaseTransport:
    """Where the API's own outbound requests (short links) go: the sandbox provider, in-process."""
    from app.platforms.sandbox import create_app as create_sandbox

    return httpx.ASGITransport(app=create_sandbox())


# Apps built so far, by the settings they were built with, each free for the next block to
# serve: building an app's routes (FastAPI prepares every route's dependencies and models on
# first use) took most of each API test's time. A few settings at most; tests with settings
# of their own build their own apps.
_APPS: dict[int, tuple[Settings, list[FastAPI]]] = {}
_APP_SETTINGS_KEPT = 4


@asynccontextmanager
async def served_app(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    http: httpx.AsyncClient | None = None,
) -> AsyncIterator[FastAPI]:
    """An app on these settings, served for the block with this engine (and a test's rolled-
    back session, and an outbound client, when given): built once per process and reused,
    by one block at a time (a block inside another gets an app of its own)."""
    if id(settings) not in _APPS and len(_APPS) >= _APP_SETTINGS_KEPT:
        del _APPS[next(iter(_APPS))]
    _, idle = _APPS.setdefault(id(settings), (settings, []))
    app = idle.pop() if idle else create_app(settings)
    try:
        async with serving(app, settings, engine=engine, sessionmaker=sessionmaker, http=http):
            yield app
    finally:
        idle.append(app)


@pytest.fixture
async def app(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    outbound_transport: httpx.AsyncBaseTransport,
) -> AsyncIterator[object]:
    async with (
        httpx.AsyncClient(transport=outbound_transport) as http,
        served_app(settings, engine, sessionmaker, http) as application,
    ):
        yield application


@dataclass
class Org:
    id: uuid.UUID
    key: str


MakeOrg = Callable[..., Awaitable[Org]]


@pytest.fixture
def make_org(sessionmaker: async_sessionmaker[AsyncSession]) -> MakeOrg:
    async def make(name: str = "Acme") -> Org:
        async with sessionmaker() as session:
            org, key = await api_keys.create_organization(session, name)
            await session.commit()
        return Org(org.id, key)

    return make


@pytest.fixture
def make_key(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[Org, Role], Awaitable[str]]:
    async def make(org: Org, role: Role) -> str:
        async with sessionmaker() as session:
            _, key = await api_keys.create(session, org.id, role)
            await session.commit()
        return key

    return make


@pytest.fixture
async def org(make_org: MakeOrg) -> Org:
    return await make_org()


@pytest.fixture
async def client(app: object, org: Org) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of one organization."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {org.key}"}
    ) as client:
        yield client


@pytest.fixture
def client_for(app: object) -> Callable[[str | None], httpx.AsyncClient]:
    def make(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)

    return make


# Every table: app.models is one module, loaded by the app.main import above.
ALL_TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """For tests that need real commits (the engine's own sessions, other processes): a
    sessionmaker on the engine, and every table emptied afterwards."""
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"TRUNCATE {ALL_TABLES}")


@asynccontextmanager
async def committed_client(
    settings: Settings, engine: AsyncEngine, key: str, http: httpx.AsyncClient | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with this API key, on an app with its own connections (its writes commit,
    and it reads what other connections committed)."""
    async with (
        served_app(settings, engine, http=http) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client,
    ):
        yield client


@asynccontextmanager
async def committed_admin(
    settings: Settings,
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    name: str,
    http: httpx.AsyncClient | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a new organization, on an app whose writes commit: for tests where
    the worker's code reads what the API wrote, from its own connections."""
    async with committed() as session:
        _, key = await api_keys.create_organization(session, name)
        await session.commit()
    async with committed_client(settings, engine, key, http) as client:
        yield client


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


# The real-process tests (drills, deployment, browser) take minutes each; collected last, the
# longest would start after the rest and leave one of `make test`'s two workers idle while
# the other finishes them. First, the workers share them and the quick tests fill in after.
_SLOW_FIRST = ("tests/drills/", "tests/deploy/", "tests/browser/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(_SLOW_FIRST))


@pytest.fixture
def collector_off() -> Iterator[list[object]]:
    """The collector off, and what a full collection then finds unreachable (kept for
    inspection by DEBUG_SAVEALL rather than freed)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
