"""Request dependencies: the unit of work, the caller, and the shared clients; and the
middleware that authenticates a request before anything reads its body."""

import hmac
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import idempotency
from app.auth import Principal, PrincipalCache, Recent, hash_key
from app.db import session_scope
from app.domain import audit as audit_actions
from app.domain import permissions as permission_table
from app.domain.enums import OrgRole, Role
from app.domain.errors import NotFound
from app.domain.permissions import CampaignRole
from app.errors import ApiError, problem_response
from app.http import cookies
from app.http.public import client_address
from app.http.ratelimit import RateLimiter
from app.models import ApiKey, Payout, User, WebhookEndpoint
from app.platforms.shortlinks import Resolver
from app.repositories import api_keys
from app.repositories import audit as audit_repo
from app.repositories import permissions as permissions_repo
from app.repositories import users as users_repo
from app.request_context import current as current_context
from app.services import users as users_service
from app.settings import Settings
from app.webhooks import ssrf

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


# These two are `async` though they never await: FastAPI runs a plain `def` dependency in
# a worker thread, a thread hop per request for reading an attribute.
async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _shortlinks(request: Request) -> Resolver:
    resolver: Resolver = request.app.state.shortlinks
    return resolver


AppSettings = Annotated[Settings, Depends(_settings)]
ShortLinks = Annotated[Resolver, Depends(_shortlinks)]


def get_resolver() -> ssrf.Resolver:
    """How host names are resolved for a webhook URL's check (tests override this)."""
    return ssrf.system_resolve


WebhookResolver = Annotated[ssrf.Resolver, Depends(get_resolver)]


async def _authenticate(request: Request, key: str) -> Principal | None:
    # A session of its own, closed at once: the request's unit of work has not begun when
    # the idempotency claim commits (and a refused key never opens a write transaction).
    async with request.app.state.read_sessionmaker() as session:
        return await api_keys.authenticate(session, key)


# Where AuthenticateFirst leaves the caller for the `_principal` dependency.
_PRINCIPAL = "viewledger.principal"


_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


# What a session waiting for its second factor to be set up may reach.
_ENROLMENT_PATHS = frozenset(
    {
        "/v1/session",
        "/v1/sessions",
        "/v1/session/two-factor",
        "/v1/session/two-factor/confirm",
        "/app/two-factor",
        "/app/sign-out",
    }
)


# A session the cookie names, if live, and its user's campaign roles if a member.
SignedIn = tuple[users_repo.Live | None, dict[uuid.UUID, CampaignRole] | None]


async def _live(request: Request, token: str, session: AsyncSession) -> SignedIn:
    """The live session the cookie names, and a member's campaign roles."""
    found = await users_service.live(session, request.app.state.settings, token)
    roles = (
        await permissions_repo.campaign_roles(session, found.user.id)
        if found is not None and found.user.role is OrgRole.MEMBER
        else None
    )
    return found, roles


def _keepable(signed_in: SignedIn) -> bool:
    """What `app.state.sessions` may keep: a live session, or none (a token never becomes
    live later), but not one waiting for its second factor, which its next request may
    have just confirmed."""
    found, _ = signed_in
    return found is None or not found.session.two_factor_pending


async def _session_caller(
    request: Request, token: str, session: AsyncSession | None = None
) -> Principal:
    """A signed-in user's session (the cookie), as a caller: 401 when it is not live, 403
    `csrf_token_invalid` for a write without the session's CSRF token. Read with `session`
    (a dashboard page's own, so a page checks out one connection, not two), else on the read
    sessionmaker (no transaction to begin and commit), and kept a few seconds as API keys are
    (`app.state.sessions`, forgotten on every write: `ForgetKeptOnWrites`); a write
    transaction only on the rare request that moves the session's last-seen."""

    async def load() -> SignedIn:
        if session is not None:
            return await _live(request, token, session)
        async with request.app.state.read_sessionmaker() as own:
            return await _live(request, token, own)

    recent: Recent[SignedIn] = request.app.state.sessions
    found, roles = await recent.get(token, load, keep=_keepable)
    if found is not None and found.session.expires_at <= datetime.now(UTC):
        found = None  # kept from before its lifetime ran out, a moment ago
        recent.forget(token)
    if found is not None and users_service.use_due(found.session):
        async with session_scope(request.app.state.sessionmaker) as writer:
            await users_service.record_use(writer, found.session)
        recent.forget(token)  # read again with the last use just written
    if found is None:
        raise ApiError(
            401, "session_expired", "The session has ended; sign in again (POST /v1/session)."
        )
    row, user, key_id = found.session, found.user, found.key_id
    # The user and organization a dashboard page shows (app.web.layout), read with the session.
    request.state.signed_in = found
    if row.two_factor_pending and request.url.path not in _ENROLMENT_PATHS:
        raise ApiError(
            403,
            "two_factor_setup_required",
            "The organization requires two-factor sign-in: set it up first "
            "(POST /v1/session/two-factor, then .../confirm).",
        )
    if request.method not in _SAFE:
        sent = request.headers.get(users_service.CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), row.csrf_token.encode()):
            raise ApiError(
                403,
                "csrf_token_invalid",
                f"A request signed in by the session cookie that changes anything carries the "
                f"session's CSRF token in `{users_service.CSRF_HEADER}` (from GET /v1/session).",
            )
    return Principal(
        key_id,
        user.organization_id,
        users_repo.key_role(user.role),
        user_id=user.id,
        csrf_token=row.csrf_token,
        campaign_roles=roles,
    )


async def _identify(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The caller, within its budget: 401 without a known key or live session, 429 over the
    key's or its organization's rate limit. Reads headers only, never the body. A request
    with no API key may be signed in by a user's session cookie (app.services.users)."""
    session_token = request.cookies.get(users_service.COOKIE)
    if credentials is None and session_token:
        user = await _session_caller(request, session_token)
        return await _within_budget(request, hash_key(session_token), user)
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
    return await _within_budget(request, hash_key(credentials.credentials), principal)


def set_user_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    """A signed-in user's session cookie (the API's sign-in and the dashboard's alike)."""
    cookies.set_session(
        response,
        request,
        users_service.COOKIE,
        token,
        max_age_seconds=int(settings.session_max_hours * 3600),
        secure=settings.session_cookie_secure,
    )


def clear_user_cookie(response: Response, request: Request, settings: Settings) -> None:
    cookies.clear_session(
        response, request, users_service.COOKIE, secure=settings.session_cookie_secure
    )


async def session_caller(request: Request, session: AsyncSession) -> Principal:
    """The caller a user's session cookie names, within its budget: what the dashboard's
    pages and actions act as (the same checks as a /v1 request signed in by the cookie),
    read with the page's own database session."""
    token = request.cookies.get(users_service.COOKIE)
    if not token:
        raise ApiError(401, "session_expired", "Sign in first.")
    user = await _session_caller(request, token, session)
    return await _within_budget(request, hash_key(token), user)


async def _within_budget(request: Request, budget: str, principal: Principal) -> Principal:
    context = current_context()
    if context is not None:
        context.organization_id = principal.organization_id
    limiter: RateLimiter = request.app.state.ratelimiter
    decision = await limiter.hit(budget, principal.organization_id)
    if decision is not None:
        if context is not None:
            context.headers.update(decision.headers())
        if not decision.allowed:
            settings: Settings = request.app.state.settings
            whose, rate = (
                ("This key is", settings.api_rate_limit_per_second)
                if decision.scope == "key"
                else ("The key's organization is", settings.org_rate_limit_per_second)
            )
            raise ApiError(
                429,
                "rate_limited",
                f"{whose} over its rate limit ({decision.limit} requests at once, refilling "
                f"at {rate:g} per second); retry in {decision.retry_after_seconds} s.",
                headers={"Retry-After": str(decision.retry_after_seconds)},
            )
    return principal


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    known = request.scope.get(_PRINCIPAL)
    if isinstance(known, Principal):  # AuthenticateFirst did it, before the body was read
        return known
    return await _identify(request, credentials)


async def _campaign_in_path(request: Request, principal: Principal) -> tuple[uuid.UUID, str] | None:
    """The campaign the operation acts on, from its path (a post's is looked up), with the
    name of the resource to answer 404 for; None when the path names no campaign."""
    params = request.path_params
    try:
        if "campaign_id" in params:
            return uuid.UUID(str(params["campaign_id"])), "campaign"
        if "post_id" in params:
            post_id = uuid.UUID(str(params["post_id"]))
        else:
            return None
    except ValueError:
        return None  # FastAPI answers 422 for the malformed id
    async with request.app.state.read_sessionmaker() as session:
        campaign_id = await permissions_repo.campaign_of_post(
            session, principal.organization_id, post_id
        )
    if campaign_id is None:
        raise NotFound("post")
    return campaign_id, "post"


async def _authorize(request: Request, principal: Principal) -> bool:
    """The permission table (app.domain.permissions) for the operation being called: a
    caller restricted to some campaigns gets 404 for a campaign outside them (as for another
    organization's) and 403 for an operation its campaign role does not allow or that is
    not about one campaign. Unrestricted callers are checked by their role (`require`),
    which the table's key roles match (tests/api/test_permissions.py). True when the table
    decided (the caller is restricted)."""
    actor = principal.actor()
    route = request.scope.get("route")
    operation = getattr(route, "name", None)
    action = permission_table.OPERATIONS.get(operation or "")
    if not actor.restricted:
        return False
    filtered = permission_table.FILTERED.get(operation or "")
    if filtered is not None:
        # About many campaigns: answered for the caller's own (the router filters by
        # `principal.within(action)`); refused when its role allows this on none of them.
        if not permission_table.within(actor, filtered):
            raise ApiError(
                403, "forbidden", f"Your roles allow {filtered.value} on none of your campaigns."
            )
        return True
    if action is None:
        raise ApiError(
            403,
            "forbidden",
            "This caller reaches only some campaigns, and this operation is not about one.",
        )
    found = await _campaign_in_path(request, principal)
    if found is None:
        if operation == "campaigns_list":
            return True  # filtered to the caller's campaigns
        raise ApiError(403, "forbidden", "This caller reaches only some campaigns.")
    campaign_id, resource = found
    decision = permission_table.allowed(actor, action, campaign_id)
    if decision is permission_table.Decision.HIDE:
        raise NotFound(resource)
    if decision is permission_table.Decision.FORBID:
        raise ApiError(
            403, "forbidden", f"Your role on this campaign does not allow {action.value}."
        )
    return True


_CREATED: dict[str, type[Any]] = {
    "api_key": ApiKey,
    "user": User,
    "payout": Payout,
    "webhook_endpoint": WebhookEndpoint,
}


async def _audit(request: Request, session: Session) -> AsyncIterator[None]:
    """Records an audited operation (app.domain.audit) that succeeded, in its own
    transaction: this runs after the handler returns and before the request's commit. A
    resource the operation created is the first new row of its kind the session flushed."""
    route = request.scope.get("route")
    audited = audit_actions.AUDITED.get(getattr(route, "name", "") or "")
    if audited is None or request.method in _READS:
        yield
        return
    created: list[Any] = []

    def collect(sync_session: Any, _context: Any) -> None:
        created.extend(sync_session.new)

    event.listen(session.sync_session, "after_flush", collect)
    try:
        yield
    finally:
        event.remove(session.sync_session, "after_flush", collect)
    principal = request.scope.get(_PRINCIPAL)
    if not isinstance(principal, Principal):
        return
    action, resource_type, param = audited
    if param is not None:
        resource_id: object = request.path_params.get(param)
    elif resource_type == "organization":
        resource_id = principal.organization_id
    elif resource_type == "user" and principal.user_id is not None and not created:
        resource_id = principal.user_id  # signing out: the user themself
    else:
        wanted = _CREATED.get(resource_type)
        resource_id = next(
            (row.id for row in created if wanted is not None and isinstance(row, wanted)), None
        )
    details = {k: str(v) for k, v in request.path_params.items()}
    await audit_repo.record(
        session,
        principal.organization_id,
        action,
        resource_type,
        resource_id,
        actor_key_id=principal.key_id,
        actor_user_id=principal.user_id,
        client_address=client_address(request.scope),
        details=details,
    )


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def check(
        request: Request,
        principal: Annotated[Principal, Depends(_principal)],
        _audited: Annotated[None, Depends(_audit, scope="function")],
    ) -> Principal:
        request.scope[_PRINCIPAL] = principal  # for the audit record
        restricted = await _authorize(request, principal)
        if not restricted and not principal.allows(role):
            raise ApiError(
                403, "forbidden", f"This needs the {role} role; the key is {principal.role}."
            )
        # Only an authorized request takes an idempotency key, under its own API key.
        await idempotency.begin(request, principal)
        return principal

    check.required_role = role  # type: ignore[attr-defined]  # read by operation_role
    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Editor = Annotated[Principal, Depends(require(Role.EDITOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def _required_role(dependant: Dependant) -> Role | None:
    for sub in dependant.dependencies:
        role = getattr(sub.call, "required_role", None)
        if isinstance(role, Role):
            return role
        role = _required_role(sub)
        if role is not None:
            return role
    return None


def operation_role(app: Any, operation: str) -> Role | None:
    """The least key role an API operation needs, as its route declares it (`require`):
    what the dashboard asks of an operation about no one campaign (creating a campaign or a
    creator, a new access code), so the role is written once, on the route."""
    roles: dict[str, Role] | None = getattr(app.state, "operation_roles", None)
    if roles is None:
        roles = {}
        for context in iter_route_contexts(app.router.routes):
            route = context.original_route
            if isinstance(route, APIRoute):
                role = _required_role(route.dependant)
                if role is not None:
                    roles[route.name] = role
        app.state.operation_roles = roles
    return roles.get(operation)


def _depends_on_principal(dependant: Dependant) -> bool:
    return any(
        sub.call is _principal or _depends_on_principal(sub) for sub in dependant.dependencies
    )


def _routes(app: Any) -> list[tuple[Any, bool, str, Any]]:
    """Every route the app would match, in its order (included routers flattened), each with
    whether its operation takes an API key, the literal start of its path (up to its first
    parameter; empty for a route without a path): a request whose path does not start with
    it cannot match the route; and for an API route, the pattern its match tries first (a
    path it does not fit cannot match either), else None."""
    return [
        (
            context,
            isinstance(context.original_route, APIRoute)
            and _depends_on_principal(context.original_route.dependant),
            (getattr(context, "path", None) or "").split("{", 1)[0],
            context.path_regex if isinstance(context.original_route, APIRoute) else None,
        )
        for context in iter_route_contexts(app.router.routes)
    ]


class AuthenticateFirst:
    """FastAPI reads and parses a request's body before it solves its dependencies, so a
    401 from `_principal` would come after parsing whatever an anonymous sender posted. This
    middleware authenticates (and rate-limits) every request for an operation that takes an
    API key before passing it on: a refused request is answered without its body being read,
    and `_principal` reuses the caller found here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[tuple[Any, bool, str, Any]] | None = None

    def _keyed_route(self, scope: Scope) -> tuple[Any, Scope] | None:
        """The route this request goes to if its operation takes an API key, with what the
        match found (its path parameters), else None. The router matches the request again
        after this: the literal start of each route's path is checked first, so only the few
        routes it could be pay for a full match."""
        if self._routes is None:  # the routes are all in place by the first request
            self._routes = _routes(scope["app"])
        path = get_route_path(scope)
        for route, needs_key, start, pattern in self._routes:
            if not path.startswith(start) or (pattern is not None and not pattern.match(path)):
                continue
            match, child = route.matches(scope)
            if match is Match.FULL:
                return (route.original_route, child) if needs_key else None
        return None  # a 404 or a 405: nothing reads the body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._keyed_route(scope) if scope["type"] == "http" else None
        if found is not None:
            route, matched = found
            request = Request(scope)
            try:
                principal = await _identify(request, await _bearer(request))
            except ApiError as exc:
                scope["route"] = route  # the access log and metrics name its template
                response = problem_response(exc.status, exc.code, exc.detail, exc.errors)
                response.headers.update(exc.headers or {})
                await response(scope, receive, send)
                return
            except Exception:
                # A backing service failed (the database on a key-cache miss, say). Out here
                # no exception handler would answer it but Starlette's bare 500; passed on,
                # the route's own `_principal` meets the same failure inside the app and
                # answers it as every route does (503 `service_unavailable`).
                await self.app(scope, receive, send)
                return
            scope[_PRINCIPAL] = principal
            lean: Lean | None = getattr(route.endpoint, LEAN, None)
            if lean is not None and await _lean(
                lean, route, scope, receive, send, principal, matched
            ):
                return
        await self.app(scope, receive, send)


# A route's lean path (issue 24): `endpoint.lean = handler`. Called by AuthenticateFirst
# once the caller is known and within its budget, with the path parameters (as text), it
# answers the requests it can answer in full (True) and declines the rest (False, having
# sent nothing), which then take the route's ordinary path: FastAPI's parameters,
# dependencies and response model. A lean path answers exactly what the ordinary path
# would, for an unrestricted caller of a GET (no authorization table, idempotency or audit
# applies); the route's tests run through it.
LEAN = "lean"
Lean = Callable[[Scope, Receive, Send, Principal, dict[str, Any]], Coroutine[Any, Any, bool]]


async def _lean(
    lean: Lean,
    route: Any,
    scope: Scope,
    receive: Receive,
    send: Send,
    principal: Principal,
    matched: Scope,
) -> bool:
    if scope["method"] != "GET" or principal.actor().restricted:
        return False
    started = False

    async def watched(message: Message) -> None:
        nonlocal started
        started = True
        await send(message)

    scope["route"] = route  # the access log and metrics name its template
    try:
        if await lean(scope, receive, watched, principal, matched.get("path_params", {})):
            return True
    except Exception:
        if started:
            raise
        # Whatever failed (a database error, say) fails again on the ordinary path, which
        # answers it as every route does.
    scope.pop("route", None)  # the router matches it afresh
    return False


class ForgetKeptOnWrites:
    """A write can change what this process keeps for a few seconds (`app.state.kept`): what
    a session grants (the session ended, its user's role or campaigns changed, the
    organization's two-factor rule), the campaigns a page offers to choose from. When this
    process answers one, it forgets all of it. It does so as the answer starts, the write
    committed by then (see `Session`), so the client's next request reads afresh; other
    processes follow within the TTL, as for API keys."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE:
            await self.app(scope, receive, send)
            return
        kept: tuple[Recent[Any], ...] = scope["app"].state.kept

        def forget() -> None:
            for recent in kept:
                recent.clear()

        async def forgetting(message: Message) -> None:
            if message["type"] == "http.response.start":
                forget()
            await send(message)

        try:
            await self.app(scope, receive, forgetting)
        finally:
            forget()  # an answer that never started: what it wrote may have landed
