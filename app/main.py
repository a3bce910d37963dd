"""The FastAPI application: `create_app()` wires settings, database, Redis and routers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from arq.connections import ArqRedis
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import heap, idempotency, web
from app.auth import PrincipalCache, Recent
from app.db import create_engine, create_sessionmaker
from app.deps import AuthenticateFirst, ForgetKeptOnWrites, SignedIn
from app.errors import PROBLEM_JSON, install_error_handlers
from app.http.bodylimit import BodyLimitMiddleware
from app.http.contract import check_request, tidy
from app.http.location import LocationMiddleware
from app.http.openapi import document_edge
from app.http.public import Gate, PublicGateMiddleware
from app.http.ratelimit import RateLimiter
from app.http.request_id import RequestIdMiddleware
from app.logs import configure as configure_logging
from app.metrics import MetricsMiddleware
from app.platforms.shortlinks import resolver_for
from app.routers import (
    analytics,
    campaigns,
    cpm_tiers,
    creators,
    discord,
    keys,
    members,
    ops,
    payouts,
    portal,
    post_imports,
    posts,
    refresh_runs,
    users,
    watched_accounts,
    webhook_endpoints,
)
from app.services import readiness
from app.settings import Settings, get_settings
from app.web import choices
from app.web.waiting import WaitingCounts

DESCRIPTION = """
Tracks TikTok, Instagram and YouTube Shorts video performance for creator campaigns and turns
views into payouts. Authenticate with `Authorization: Bearer <API key>`. Errors are
`application/problem+json` with a stable `code`. Money is a decimal string.
"""


def _problem_media_types(spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files every response model under application/json; error answers are
    application/problem+json, so move their schema there (generated clients then parse them)."""
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    return spec


@asynccontextmanager
async def serving(
    app: FastAPI,
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    http: httpx.AsyncClient | None = None,
) -> AsyncIterator[None]:
    """What the app holds while it serves: the database, Redis, the outbound HTTP client.
    Its lifespan; tests run it once per test around one app built per process (building an
    app's routes is most of a test's cost), each time with their own rolled-back session."""
    own_engine = engine or create_engine(settings)
    # Outbound requests the API makes itself (short links); no proxy from the environment.
    own_http = http or httpx.AsyncClient(timeout=settings.shortlink_budget_seconds, trust_env=False)
    # One lazy client: connects on first use, so the API starts even while Redis is down.
    redis = ArqRedis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    app.state.settings = settings
    app.state.engine = own_engine
    app.state.sessionmaker = sessionmaker or create_sessionmaker(own_engine)
    # Reads run each statement in its own implicit transaction: under READ COMMITTED a
    # transaction around them would give no more consistency, only a BEGIN and a COMMIT
    # round trip per request.
    app.state.read_sessionmaker = sessionmaker or create_sessionmaker(
        own_engine.execution_options(isolation_level="AUTOCOMMIT")
    )
    app.state.http = own_http
    app.state.shortlinks = resolver_for(own_http, settings)
    app.state.redis = app.state.arq = redis
    app.state.ratelimiter = RateLimiter(
        redis,
        settings.api_rate_limit_per_second,
        settings.api_rate_burst,
        settings.org_rate_limit_per_second,
        settings.org_rate_burst,
    )
    app.state.migration_head = readiness.migration_head()
    app.state.migration_revisions = readiness.migration_revisions()
    app.state.principals = PrincipalCache()
    app.state.sessions = Recent[SignedIn]()
    app.state.campaign_choices = choices.kept()
    # What a write answered here forgets at once (ForgetKeptOnWrites).
    app.state.kept = (app.state.sessions, app.state.campaign_choices)
    app.state.waiting = WaitingCounts()
    heap.settle(heap.SERVING)
    try:
        yield
    finally:
        await redis.aclose()
        if http is None:
            await own_http.aclose()
        if engine is None:
            await own_engine.dispose()


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Tests pass their own engine, sessionmaker (bound to a rolled-back transaction) and HTTP
    client; in production everything is built from settings."""
    settings = settings or get_settings()
    configure_logging(settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serving(app, settings, engine=engine, sessionmaker=sessionmaker, http=http):
            yield

    app = FastAPIOffline(
        title="ViewLedger",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,
        dependencies=[Depends(check_request)],
        openapi_tags=[
            {"name": "campaigns", "description": "Campaigns and their rules."},
            {"name": "cpm-tiers", "description": "What a campaign pays per 1,000 views."},
            {"name": "creators", "description": "Creators' platform accounts."},
            {"name": "members", "description": "Creators added to a campaign."},
            {"name": "posts", "description": "Tracked videos and their lifecycle."},
            {"name": "analytics", "description": "Time series and totals for dashboards."},
            {"name": "refresh-runs", "description": "On-demand refreshes and sweep progress."},
            {"name": "api-keys", "description": "Keys and the calling identity."},
            {"name": "ops", "description": "Health checks."},
            {"name": "webhooks", "description": "Signed event delivery to your endpoints."},
            {"name": "payouts", "description": "What is ready to pay, batches, CSV exports."},
            {"name": "portal", "description": "Creators' own videos and earnings, by code."},
            {"name": "discord", "description": "The Discord bot: connection and interactions."},
            {"name": "users", "description": "People who sign in, and their sessions."},
        ],
    )
    app.openapi = lambda: tidy(  # type: ignore[method-assign]
        document_edge(_problem_media_types(FastAPI.openapi(app))), settings
    )
    install_error_handlers(app)
    for module in (
        campaigns,
        cpm_tiers,
        members,
        creators,
        posts,
        analytics,
        refresh_runs,
        keys,
        ops,
        webhook_endpoints,
        payouts,
        portal,
        post_imports,
        discord,
        users,
        watched_accounts,
    ):
        app.include_router(module.router)
    web.install(app)
    # The last added runs first: the request id wraps everything (every answer and log line
    # has it), then the body limit, which refuses oversized bodies before anything reads them.
    app.add_middleware(LocationMiddleware)
    idempotency.install(app)
    # Before anything reads a body: an operation that takes an API key authenticates first.
    app.add_middleware(AuthenticateFirst)
    app.add_middleware(ForgetKeptOnWrites)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(PublicGateMiddleware, gates=_public_gates(settings))
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    # Outermost: every layer sees the client's address, which X-Forwarded-For gives only
    # when a trusted proxy connected (uvicorn itself runs with --no-proxy-headers).
    if settings.trusted_proxy_list():
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list())
    return app


def _public_gates(settings: Settings) -> dict[tuple[str, str], Gate]:
    """The endpoints anyone may call: small bodies, a budget per client address."""
    portal = Gate(
        "portal",
        settings.portal_max_body_bytes,
        settings.portal_requests_per_minute / 60,
        settings.portal_request_burst,
    )
    discord = Gate(
        "discord",
        settings.discord_max_body_bytes,
        settings.discord_requests_per_second,
        settings.discord_request_burst,
    )
    return {
        ("POST", "/v1/portal/session"): portal,
        ("POST", "/portal/login"): portal,
        ("POST", "/v1/session"): portal,  # users' sign-in, and setting a password by link
        ("POST", "/v1/password"): portal,
        ("POST", "/v1/password-reset"): portal,
        ("POST", "/app/sign-in"): portal,  # the dashboard's sign-in form
        ("POST", "/discord/interactions"): discord,
    }
