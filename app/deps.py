"""Request dependencies: the unit of work, the caller, and the shared clients."""

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app import idempotency
from app.auth import Principal, PrincipalCache, hash_key
from app.db import session_scope
from app.domain.enums import Role
from app.errors import ApiError
from app.http.context import current as current_context
from app.http.ratelimit import RateLimiter
from app.platforms.shortlinks import Resolver
from app.repositories import api_keys
from app.settings import Settings

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer vl_...`")


_READS = frozenset({"GET", "HEAD"})


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    if request.method in _READS:  # they never write: no transaction to commit
        async with request.app.state.read_sessionmaker() as session:
            yield session
        return
    async with session_scope(request.app.state.sessionmaker) as session:
        yield session


# scope="function": the commit runs when the handler returns, before the response is sent,
# so a failed commit becomes an error response instead of a lost write behind a 2xx.
Session = Annotated[AsyncSession, Depends(_session, scope="function")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _shortlinks(request: Request) -> Resolver:
    resolver: Resolver = request.app.state.shortlinks
    return resolver


AppSettings = Annotated[Settings, Depends(_settings)]
ShortLinks = Annotated[Resolver, Depends(_shortlinks)]


async def _authenticate(request: Request, key: str) -> Principal | None:
    # A session of its own, closed at once: the request's unit of work has not begun when
    # the idempotency claim commits (and a refused key never opens a write transaction).
    async with request.app.state.read_sessionmaker() as session:
        return await api_keys.authenticate(session, key)


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "Send an API key as `Authorization: Bearer <key>`.",
            headers=_CHALLENGE,
        )
    cache: PrincipalCache = request.app.state.principals
    principal = await cache.get(
        credentials.credentials, lambda: _authenticate(request, credentials.credentials)
    )
    if principal is None:
        raise ApiError(
            401, "unauthorized", "The API key is unknown or revoked.", headers=_CHALLENGE
        )
    context = current_context()
    if context is not None:
        context.organization_id = principal.organization_id
    limiter: RateLimiter = request.app.state.ratelimiter
    decision = await limiter.hit(hash_key(credentials.credentials))
    if decision is not None:
        if context is not None:
            context.headers.update(decision.headers())
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"This key is over its rate limit ({decision.limit} requests at once, refilling "
                f"at {request.app.state.settings.api_rate_limit_per_second:g} per second); retry "
                f"in {decision.retry_after_seconds} s.",
                headers={"Retry-After": str(decision.retry_after_seconds)},
            )
    await idempotency.begin(request, principal.organization_id)
    return principal


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not principal.allows(role):
            raise ApiError(
                403, "forbidden", f"This needs the {role} role; the key is {principal.role}."
            )
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Editor = Annotated[Principal, Depends(require(Role.EDITOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
