"""Health, metrics, docs and the OpenAPI document."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from alembic.config import Config
from alembic.script import ScriptDirectory
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.cli import drop_database, ensure_database
from app.main import create_app
from app.services.readiness import migration_head
from app.settings import PROJECT_ROOT, ProviderMode, Settings
from app.workers.metrics import HEARTBEATS
from tests import factories as f
from tests.conftest import committed_client
from tests.processes import cli


async def test_liveness_says_pass(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert response.json()["status"] == "pass"


async def test_readiness_checks_postgres_migrations_and_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["postgresql:migrations"][0]["status"] == "pass"
    assert checks["redis:connection"][0]["status"] == "pass"


async def test_readiness_warns_naming_the_cost_when_the_database_runs_without_autovacuum(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        autovacuum = await conn.scalar(text("SELECT current_setting('autovacuum')"))
    response = await client.get("/health/ready")
    assert response.status_code == 200
    check = response.json()["checks"]["postgresql:autovacuum"][0]
    assert check["observedValue"]["autovacuum"] == autovacuum
    if autovacuum == "on":
        assert check["status"] == "pass"
        return
    # This project's PostgreSQL (like CI's) runs without it: a warning, never a failure.
    assert check["status"] == "warn"
    assert response.json()["status"] == "warn"
    assert "autovacuum is off" in check["output"]
    assert "slow as the tables grow" in check["output"]


async def test_readiness_shows_the_provider_mode(
    client: httpx.AsyncClient,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    body = (await client.get("/health/ready")).json()
    assert body["checks"]["providers:mode"] == [
        {"status": "pass", "observedValue": "sandbox", "componentType": "component"}
    ]
    live = settings.model_copy(update={"provider_mode": ProviderMode.LIVE})
    app = create_app(live, engine=engine, sessionmaker=sessionmaker)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as other,
    ):
        response = await other.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["providers:mode"][0]["observedValue"] == "live"


async def test_readiness_is_503_naming_redis_when_redis_is_unreachable(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken, engine=engine, sessionmaker=sessionmaker)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["redis:connection"][0]["status"] == "fail"
    assert body["checks"]["postgresql:migrations"][0]["status"] == "pass"


async def test_metrics_count_requests_by_route_template_and_carry_no_tenant_data(
    client: httpx.AsyncClient,
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url="https://www.tiktok.com/@scout2015/video/1")
    await client.get(f"/v1/posts/{p['id']}")
    text = (await client.get("/metrics")).text
    assert (
        'viewledger_http_requests_total{method="GET",route="/v1/posts/{post_id}",status_class="2xx"}'
        in text
    )
    assert p["id"] not in text  # raw paths never become labels
    assert "viewledger_http_request_duration_seconds_bucket" in text
    # The public port tells nothing about any organization's posts (issue 11: leaks).
    assert "viewledger_posts{" not in text
    assert s["campaign"]["id"] not in text


async def test_docs_work_offline(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    script = page.text.split('src="')[1].split('"')[0]
    asset = await client.get(script)
    assert asset.status_code == 200
    assert len(asset.content) > 100_000


async def test_openapi_has_readable_unique_operation_ids_and_problem_responses(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert {
        "campaigns_create",
        "campaigns_list",
        "posts_create",
        "posts_list",
        "posts_mark_paid",
    } <= set(ids)
    assert all(op.get("tags") for op in operations)
    create = spec["paths"]["/v1/campaigns/{campaign_id}/posts"]["post"]
    assert "application/problem+json" in create["responses"]["409"]["content"]
    assert "Problem" in spec["components"]["schemas"]


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": settings.database_url}


async def test_cli_creates_an_organization_whose_printed_key_works(
    settings: Settings, client_for: Callable[[str | None], httpx.AsyncClient], engine: AsyncEngine
) -> None:
    key = cli(_env(settings), "orgs", "create", "From the CLI")
    # The CLI commits for real; the app under test reads through the test's own transaction,
    # which cannot see that commit yet, so check the key with a fresh app on the engine.
    async with committed_client(settings, engine, key) as client:
        me = await f.ok(await client.get("/v1/me"))
        assert me["organization_name"] == "From the CLI"
        viewer_key = cli(
            _env(settings), "keys", "create", "--org", me["organization_id"], "--role", "viewer"
        )
        client.headers["Authorization"] = f"Bearer {viewer_key}"
        assert (await f.ok(await client.get("/v1/me")))["role"] == "viewer"


def test_db_wait_returns_at_the_head_and_otherwise_gives_up_naming_the_revisions(
    settings: Settings,
) -> None:
    """`db wait` holds a new worker back until the release's migration has run (the
    Kubernetes worker's init container)."""
    assert cli(_env(settings), "db", "wait", "--timeout", "5") == (
        "database is at this code's migration or a later one"
    )
    missing = settings.database_url.rsplit("/", 1)[0] + "/viewledger_never_created"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "wait", "--timeout", "1"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": missing},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"database at no revision, code expects {migration_head()}" in done.stderr


@asynccontextmanager
async def _database_at(settings: Settings, revision: str) -> AsyncIterator[Settings]:
    """A scratch database whose only table says it is at `revision`: what the readiness
    check and `db wait` read, without moving the shared test database."""
    scratch = settings.model_copy(
        update={"database_url": f"{settings.database_url}_rev_{uuid.uuid4().hex[:8]}"}
    )
    await ensure_database(scratch)
    engine = create_async_engine(scratch.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE alembic_version (version_num varchar(32))"))
            await conn.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
        yield scratch
    finally:
        await engine.dispose()
        await drop_database(scratch)


async def _ready(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        return await client.get("/health/ready")


def _wait(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "wait", "--timeout", "1"],
        cwd=PROJECT_ROOT,
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_database_ahead_of_the_code_is_ready_and_one_behind_is_not(
    settings: Settings,
) -> None:
    """A release's migration Job commits while the old API pods still serve, and after a
    rollback the old code runs on the newer schema: a revision this code's scripts do not
    know is a later release's, so the old pods stay ready and old workers stop waiting. A
    revision they know, short of the head, is a migration still to run: not ready."""
    head = migration_head()
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    before = ScriptDirectory.from_config(config).get_revision(head).down_revision
    assert isinstance(before, str)

    async with _database_at(settings, "9999_a_later_release") as ahead:
        response = await _ready(ahead)
        assert response.status_code == 200, response.text
        migrations = response.json()["checks"]["postgresql:migrations"][0]
        assert migrations == {"status": "pass", "observedValue": "9999_a_later_release"}
        waited = _wait(ahead)
        assert waited.returncode == 0, waited.stderr
        assert waited.stdout.strip() == "database is at this code's migration or a later one"

    async with _database_at(settings, before) as behind:
        response = await _ready(behind)
        assert response.status_code == 503
        migrations = response.json()["checks"]["postgresql:migrations"][0]
        assert migrations["status"] == "fail"
        assert f"database at {before}, code expects {head}" in migrations["output"]
        waited = _wait(behind)
        assert waited.returncode == 1
        assert f"database at {before}, code expects {head}" in waited.stderr


async def test_a_keyed_request_while_the_database_is_down_is_503_not_500(
    settings: Settings,
) -> None:
    """Authentication runs before the body is read (app.deps.AuthenticateFirst), outside the
    app's exception handlers: a database that cannot be reached there must still answer as it
    does everywhere else."""
    down = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/viewledger"}
    )
    app = create_app(down)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://test",
            headers={"Authorization": "Bearer vl_not_cached_anywhere"},
        ) as client,
    ):
        response = await client.post("/v1/campaigns", json={"name": "x"})
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "service_unavailable"


async def test_readiness_reports_the_worker_heartbeat(
    client: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    silent = (await client.get("/health/ready")).json()
    assert silent["status"] == "warn"
    assert silent["checks"]["worker:heartbeat"][0]["status"] == "warn"
    await redis.zadd(HEARTBEATS, {"test-worker": time.time()})
    beating = (await client.get("/health/ready")).json()
    # Overall pass unless the database runs without autovacuum (its own warning).
    autovacuum = beating["checks"]["postgresql:autovacuum"][0]["status"]
    assert beating["status"] == autovacuum
    assert beating["checks"]["worker:heartbeat"][0]["status"] == "pass"
    await redis.zadd(HEARTBEATS, {"test-worker": time.time() - 10 * settings.heartbeat_seconds})
    stale = await client.get("/health/ready")
    assert (stale.status_code, stale.json()["status"]) == (200, "warn")


async def test_metrics_carry_the_newest_worker_heartbeat_for_the_alert(
    client: httpx.AsyncClient, redis: Redis
) -> None:
    """The worker beats in Redis; the API's /metrics turns the newest beat into a gauge, so
    Prometheus sees it age while every worker is down (deploy/prometheus/alerts.yaml)."""
    beat = time.time() - 42
    await redis.zadd(HEARTBEATS, {"test-worker": beat, "older-worker": beat - 100})
    text = (await client.get("/metrics")).text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("viewledger_worker_heartbeat_timestamp_seconds ")
    )
    assert abs(float(line.split()[1]) - beat) < 0.01
