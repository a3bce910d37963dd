"""The creator portal: a page at /portal and the same data as JSON under /v1/portal. Signed
in by access code into a cookie session, never by API key: the API-key dependency (rate limit,
idempotency claim) is not on these routes; access-code attempts have their own limit, and
sign-in and sign-out are same-origin only (app.http.sameorigin)."""

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import APIKeyCookie

from app.deps import AppSettings, Session
from app.errors import PROBLEM_JSON, PROBLEM_RESPONSES, ApiError, Problem
from app.http import cookies
from app.http.public import client_address
from app.http.sameorigin import cross_origin
from app.models import Creator
from app.schemas.common import Cursor, Limit
from app.schemas.portal import (
    PortalLogin,
    PortalPostPage,
    PortalSessionOut,
    PortalSummary,
)
from app.services import portal, portal_page
from app.settings import Settings

router = APIRouter(tags=["portal"], responses=PROBLEM_RESPONSES)

_cookie = APIKeyCookie(
    name=portal.COOKIE,
    auto_error=False,
    description="The portal session, set by `POST /v1/portal/session`.",
)
# Private data, per creator: never cached, never framed, no script or outside resource.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers send `Origin: null` even on the page's own sign-in
    # form, which the same-origin check must treat as another site's.
    "Referrer-Policy": "same-origin",
}


def _set_cookie(
    response: Response, request: Request, settings: Settings, started: portal.Session
) -> None:
    cookies.set_session(
        response,
        request,
        portal.COOKIE,
        started.token,
        max_age_seconds=int(settings.portal_session_hours * 3600),
        secure=settings.portal_cookie_secure,
    )


def _clear_cookie(response: Response, request: Request, settings: Settings) -> None:
    cookies.clear_session(response, request, portal.COOKIE, secure=settings.portal_cookie_secure)


async def _creator(
    session: Session, settings: AppSettings, token: Annotated[str | None, Depends(_cookie)]
) -> Creator:
    creator = await portal.creator_for_token(session, settings, token)
    if creator is None:
        raise ApiError(
            401,
            "portal_session_required",
            "Sign in with an access code first (POST /v1/portal/session); sessions expire.",
        )
    return creator


PortalCreator = Annotated[Creator, Depends(_creator)]

_CROSS_ORIGIN = "Signing in and out of the portal is only possible from the portal itself."


def _same_origin(request: Request) -> None:
    if cross_origin(request):
        raise ApiError(403, "cross_origin_request", _CROSS_ORIGIN)


SameOrigin = Depends(_same_origin)


def _too_many(exc: portal.TooManyAttempts) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"Too many access-code attempts; retry in {exc.retry_after} s.",
        headers={"Retry-After": str(exc.retry_after)},
    )


_SIGN_IN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "The access code is not valid."},
    403: {"description": "A browser request from another site (`cross_origin_request`)."},
    413: {
        "model": Problem,
        "content": {PROBLEM_JSON: {}},
        "description": "The body is larger than `PORTAL_MAX_BODY_BYTES`.",
    },
    429: {
        "model": Problem,
        "content": {PROBLEM_JSON: {}},
        "description": "Too many sign-in requests from the client address, or attempts "
        "with the code; retry after `Retry-After` seconds.",
    },
}


@router.post("/v1/portal/session", dependencies=[SameOrigin], responses=_SIGN_IN_RESPONSES)
async def portal_session_create(
    body: PortalLogin,
    request: Request,
    response: Response,
    session: Session,
    settings: AppSettings,
) -> PortalSessionOut:
    """Signs a creator in with their access code: the answer sets an HttpOnly session
    cookie. Attempts are limited per client and per code (429 with Retry-After). A browser
    request from another origin is refused (403 `cross_origin_request`)."""
    try:
        started = await portal.login(
            session,
            settings,
            request.app.state.redis,
            client_address(request.scope),
            body.access_code,
        )
    except portal.TooManyAttempts as exc:
        raise _too_many(exc) from None
    if started is None:
        raise ApiError(401, "access_code_invalid", "That access code is not valid.")
    _set_cookie(response, request, settings, started)
    return PortalSessionOut(creator=portal.who(started.creator), expires_at=started.expires_at)


@router.delete(
    "/v1/portal/session",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameOrigin],
    responses={403: _SIGN_IN_RESPONSES[403]},
)
async def portal_session_delete(
    request: Request,
    session: Session,
    settings: AppSettings,
) -> Response:
    """Signs out: the session ends on the server (a copy of the cookie no longer works) and
    the cookie is cleared. Signing out twice, or with no session, is fine."""
    # Read straight from the request, not through the cookie's security scheme: signing out
    # needs no session, and the schema must not say it does.
    await portal.logout(session, settings, request.cookies.get(portal.COOKIE))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    _clear_cookie(response, request, settings)
    return response


@router.get("/v1/portal/posts")
async def portal_posts(
    session: Session, creator: PortalCreator, cursor: Cursor = None, limit: Limit = 50
) -> PortalPostPage:
    """The signed-in creator's videos across campaigns, newest first."""
    posts, next_cursor = await portal.posts_page(session, creator, cursor, limit)
    return PortalPostPage(data=posts, next_cursor=next_cursor)


@router.get("/v1/portal/summary")
async def portal_summary(session: Session, creator: PortalCreator) -> PortalSummary:
    """Earned, paid and pending, per currency."""
    return await portal.summary(session, creator)


# The page. Not in the API document: it is for people.


def _html(body: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return HTMLResponse(body, status_code, headers={**_PAGE_HEADERS, **(headers or {})})


@router.get("/portal", include_in_schema=False)
async def portal_home(
    request: Request,
    session: Session,
    settings: AppSettings,
    token: Annotated[str | None, Depends(_cookie)],
    cursor: Cursor = None,
) -> Response:
    creator = await portal.creator_for_token(session, settings, token)
    if creator is None:
        response = _html(portal_page.login())
        if token:  # expired or revoked: drop it
            _clear_cookie(response, request, settings)
        return response
    posts, more = await portal.posts_page(session, creator, cursor, 100)
    summary = await portal.summary(session, creator)
    return _html(portal_page.dashboard(summary, posts, more))


@router.post("/portal/login", include_in_schema=False)
async def portal_login(request: Request, session: Session, settings: AppSettings) -> Response:
    if cross_origin(request):
        return _html(portal_page.login(_CROSS_ORIGIN), 403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    code = (form.get("access_code") or [""])[0].strip()
    if not code or len(code) > 64:
        return _html(portal_page.login("Enter your access code."), 422)
    try:
        started = await portal.login(
            session, settings, request.app.state.redis, client_address(request.scope), code
        )
    except portal.TooManyAttempts as exc:
        return _html(
            portal_page.login(f"Too many attempts. Try again in {exc.retry_after} seconds."),
            429,
            {"Retry-After": str(exc.retry_after)},
        )
    if started is None:
        return _html(portal_page.login("That access code is not valid."), 401)
    response = RedirectResponse("/portal", status.HTTP_303_SEE_OTHER, headers=_PAGE_HEADERS)
    _set_cookie(response, request, settings, started)
    return response


@router.post("/portal/logout", include_in_schema=False)
async def portal_logout(
    request: Request,
    session: Session,
    settings: AppSettings,
    token: Annotated[str | None, Depends(_cookie)],
) -> Response:
    if cross_origin(request):
        return _html(portal_page.login(_CROSS_ORIGIN), 403)
    await portal.logout(session, settings, token)
    response = RedirectResponse("/portal", status.HTTP_303_SEE_OTHER, headers=_PAGE_HEADERS)
    _clear_cookie(response, request, settings)
    return response
