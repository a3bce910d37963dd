"""The API benchmark's baseline: a minimal Starlette + asyncpg app answering the campaign
first-page query (`GET /v1/campaigns/{id}/posts`, newest first, 50 posts) with the same JSON
as the API. One round trip per request: the key lookup and the page are one statement; no
ORM, no validation models, no middleware, stdlib json.

    BENCH_BASELINE_DSN=postgresql://... uvicorn bench.api_baseline:create_app --factory

It skips what a real endpoint must do and the API does: telling 401 from 404, validating
query parameters, metrics. The gap between the two is what the framework layers cost."""

import base64
import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PAGE = 50
FIELDS = (
    "id, campaign_id, creator_id, platform, platform_post_id, url, published_at, status, views,"
    " likes, comments, shares, cpm_tier_id, locked_views, earnings, finalized_at,"
    " rejection_code, rejection_reason, paid_at, payout_reference, last_refreshed_at,"
    " last_error_code, last_error, last_error_at, consecutive_failures, created_at, updated_at,"
    " locked_observed_at, last_fetch_outcome, last_fetch_at, flags, source, watched_account_id"
)
FIRST_PAGE = f"""
SELECT {", ".join("p." + f.strip() for f in FIELDS.split(","))}
FROM api_keys k JOIN posts p ON p.organization_id = k.organization_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND p.campaign_id = $2
ORDER BY p.id DESC
LIMIT {PAGE + 1}
"""


def _value(v: object) -> object:
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")  # pydantic's spelling of UTC
    if isinstance(v, UUID | Decimal):
        return str(v)
    return v


def _cursor(post_id: UUID, bound_to: str) -> str:
    raw = json.dumps([str(post_id), bound_to], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def first_page(request: Request) -> Response:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        return JSONResponse({"code": "unauthorized"}, 401)
    try:
        campaign = UUID(request.path_params["campaign_id"])
    except ValueError:
        return JSONResponse({"code": "not_found"}, 404)
    key_hash = hashlib.sha256(auth[7:].encode()).hexdigest()
    pool: asyncpg.Pool = request.app.state.pool
    rows = await pool.fetch(FIRST_PAGE, key_hash, campaign)
    # The seeded posts have no open holds (a post with some would take a second query, as
    # the API's does).
    data = [{**{k: _value(v) for k, v in row.items()}, "holds": []} for row in rows[:PAGE]]
    # Like the API's, the cursor is bound to its list (a hash: same work, not the same bytes).
    bound_to = hashlib.sha256(f"{key_hash}:{campaign}".encode()).hexdigest()[:16]
    cursor = _cursor(rows[PAGE - 1]["id"], bound_to) if len(rows) > PAGE else None
    body = json.dumps({"data": data, "next_cursor": cursor}, separators=(",", ":"))
    return Response(body, media_type="application/json")


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The API's pool: 10 connections per process (DB_POOL_SIZE), same PostgreSQL.
        size = int(os.environ.get("BENCH_BASELINE_POOL", "10"))
        app.state.pool = await asyncpg.create_pool(
            os.environ["BENCH_BASELINE_DSN"], min_size=size, max_size=size
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    return Starlette(
        routes=[Route("/v1/campaigns/{campaign_id}/posts", first_page)], lifespan=lifespan
    )
