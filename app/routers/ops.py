"""Liveness, readiness and Prometheus metrics: unauthenticated, outside /v1."""

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.metrics import WORKER_HEARTBEAT
from app.services import readiness
from app.services.readiness import CHECK_TIMEOUT_SECONDS
from app.workers.metrics import HEARTBEATS

router = APIRouter(tags=["ops"])
HEALTH_JSON = "application/health+json"


class HealthResponse(JSONResponse):
    media_type = HEALTH_JSON


def _health(status: str, checks: dict[str, Any] | None = None, code: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"status": status}
    if checks is not None:
        body["checks"] = checks
    return HealthResponse(body, status_code=code)


HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"content": {HEALTH_JSON: {"schema": {"type": "object"}}}, "description": "Unhealthy."},
}


@router.get(
    "/health/live",
    operation_id="health_live",
    response_class=HealthResponse,
    responses=HEALTH_RESPONSES,
)
async def health_live() -> JSONResponse:
    """The process is up. Says nothing about its dependencies."""
    return _health("pass")


async def _check(probe: Awaitable[Any]) -> dict[str, Any]:
    try:
        observed = await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure of a dependency is a failed check, not a 500
        return {"status": "fail", "output": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "pass", **({"observedValue": observed} if observed is not None else {})}


@router.get(
    "/health/ready",
    operation_id="health_ready",
    response_class=HealthResponse,
    responses=HEALTH_RESPONSES,
)
async def health_ready(request: Request) -> JSONResponse:
    """PostgreSQL reachable with migrations at head (or ahead: a later release's migration,
    see readiness.migration_gap), Redis reachable. 503 naming what failed.
    `providers:mode` says whether stats come from the real providers (`live`) or the sandbox;
    `postgresql:autovacuum` warns when the database vacuums and analyzes nothing by itself."""
    state = request.app.state
    head: str = state.migration_head

    async def migrations() -> str:
        async with state.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        gap = readiness.migration_gap(current, head, state.migration_revisions)
        if gap is not None:
            raise RuntimeError(gap)
        return str(current)

    async def redis() -> None:
        await state.redis.ping()

    results = await asyncio.gather(_check(migrations()), _check(redis()))
    checks = {
        "postgresql:migrations": [results[0]],
        "postgresql:autovacuum": [
            await _autovacuum(state)
            if results[0]["status"] == "pass"
            else {"status": "pass", "output": "not checked: the database is not ready"}
        ],
        "redis:connection": [results[1]],
        "worker:heartbeat": [await _worker_heartbeat(state)],
        "providers:mode": [readiness.providers(state.settings)],
        "providers:capacity": [await readiness.capacity(state.redis)],
    }
    ok = all(r["status"] == "pass" for r in results)
    # A stale worker, more demand than the provider lanes can serve, or a database without
    # autovacuum is a warning, not a failure: the API itself still serves.
    warn = any(checks[name][0]["status"] != "pass" for name in _WARN_ONLY)
    status = "fail" if not ok else "warn" if warn else "pass"
    return _health(status, checks, 200 if ok else 503)


_WARN_ONLY = ("worker:heartbeat", "providers:capacity", "postgresql:autovacuum")

AUTOVACUUM_COST = (
    "autovacuum is off: nothing vacuums or analyzes the tables the worker rewrites and grows "
    "(posts, stats_snapshots, raw_answers, post_events), so dead rows pile up, reads and "
    "writes slow as the tables grow, and the planner's statistics stay as they were; run "
    "VACUUM ANALYZE on a schedule or turn autovacuum on (see the README, Operations)"
)


async def _autovacuum(state: Any) -> dict[str, Any]:
    """Whether PostgreSQL vacuums and analyzes by itself (`autovacuum`, which also needs
    `track_counts`): `warn` when it does not, naming what that costs. The service runs
    without it (CI's server does), but slower every day."""

    async def probe() -> tuple[str, str]:
        async with state.engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT current_setting('autovacuum'), current_setting('track_counts')")
                )
            ).one()
        return str(row[0]), str(row[1])

    try:
        autovacuum, track_counts = await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return {"status": "warn", "output": f"cannot read autovacuum: {type(exc).__name__}"}
    on = autovacuum == "on" and track_counts == "on"
    result: dict[str, Any] = {
        "componentType": "datastore",
        "observedValue": {"autovacuum": autovacuum, "track_counts": track_counts},
    }
    if not on:
        return {"status": "warn", **result, "output": AUTOVACUUM_COST}
    return {"status": "pass", **result}


async def _latest_heartbeat(state: Any) -> float | None:
    """Unix time of the most recent worker beat (workers write it every few seconds)."""
    latest = await asyncio.wait_for(
        state.redis.zrange(HEARTBEATS, -1, -1, withscores=True), CHECK_TIMEOUT_SECONDS
    )
    return float(latest[0][1]) if latest else None


async def _worker_heartbeat(state: Any) -> dict[str, Any]:
    """How long ago the most recent worker beat."""
    stale_after = readiness.HEARTBEAT_STALE_BEATS * state.settings.heartbeat_seconds
    try:
        latest = await _latest_heartbeat(state)
    except Exception as exc:
        return {"status": "warn", "output": f"cannot read heartbeats: {type(exc).__name__}"}
    if latest is None:
        return {"status": "warn", "output": "no worker has reported yet"}
    age = max(time.time() - latest, 0.0)
    result: dict[str, Any] = {"observedValue": round(age, 1), "observedUnit": "s"}
    if age > stale_after:
        return {"status": "warn", **result, "output": f"last heartbeat {age:.0f} s ago"}
    return {"status": "pass", **result}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """HTTP metrics of this process, and the newest worker heartbeat (for the dashboard and
    the heartbeat alert). Served on the public port, so it carries nothing about any
    organization: no counts of their posts, no raw paths (route templates only)."""
    try:
        latest = await _latest_heartbeat(request.app.state)
    except Exception:  # Redis down: the figure keeps its last value and ages
        latest = None
    if latest is not None:
        WORKER_HEARTBEAT.set(latest)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
