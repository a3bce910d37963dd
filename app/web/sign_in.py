"""Signing in and out of the dashboard, and setting up a second factor when the
organization requires one. The same service as `POST /v1/session` (app.services.users):
the same attempt budgets, audit records and session cookie."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from app.db import session_scope
from app.deps import AppSettings, Session, clear_user_cookie, set_user_cookie
from app.domain.errors import DomainError, found
from app.http.public import client_address
from app.http.sameorigin import cross_origin
from app.repositories import users as users_repo
from app.services import two_factor, users
from app.web import actions
from app.web.layout import Page, page
from app.web.session import SIGN_IN, go_to, safe_next
from app.web.templating import render

router = APIRouter()

_CROSS_ORIGIN = "Sign in from this service's own page."


def _form(
    request: Request, status_code: int = 200, *, error: str = "", email: str = "", next: str = ""
) -> Response:
    context = {"error": error, "email": email, "next": safe_next(next)}
    return render(request, "sign_in.html", context, status_code)


@router.get("/app/sign-in")
async def sign_in_page(request: Request, next: str = "") -> Response:
    return _form(request, next=next)


@router.post("/app/sign-in")
async def sign_in(
    request: Request,
    session: Session,
    settings: AppSettings,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    if cross_origin(request):
        return _form(request, 403, error=_CROSS_ORIGIN)
    client = client_address(request.scope)
    try:
        started = await users.sign_in(
            session, settings, request.app.state.redis, client, email, password, code or None
        )
    except users.TwoFactorRequired:
        # 200: the answer is the form again, with what to put right (a browser logs a 4xx
        # page as an error, and nothing went wrong that the person cannot fix here).
        return _form(
            request,
            error="Enter the code from your authenticator app.",
            email=email,
            next=next,
        )
    except users.TooManyAttempts as exc:
        # In a transaction of its own: this request's rolls back with the refusal.
        async with session_scope(request.app.state.sessionmaker) as own:
            await users.audit_throttled(own, email, client)
        return _form(
            request,
            429,
            error=f"Too many sign-in attempts. Try again in {exc.retry_after} seconds.",
            email=email,
            next=next,
        )
    if started is None:
        wrong = "The email, the password or the code is wrong."
        return _form(request, error=wrong, email=email, next=next)
    response = go_to(request, "/app/two-factor" if started.two_factor_pending else safe_next(next))
    set_user_cookie(response, request, settings, started.token)
    return response


@router.post("/app/sign-out")
async def sign_out(request: Request, session: Session, settings: AppSettings, me: Page) -> Response:
    await users.sign_out(session, request.cookies.get(users.COOKIE))
    await actions.record(request, session, me.principal, "session_delete", me.user.id)
    response = go_to(request, SIGN_IN)
    clear_user_cookie(response, request, settings)
    return response


@router.get("/app/two-factor")
async def two_factor_page(request: Request, session: Session, me: Page) -> Response:
    context = {"enrolment": None, "codes": None, "error": ""}
    return await page(request, session, me, "two_factor.html", context)


@router.post("/app/two-factor")
async def two_factor_setup(
    request: Request,
    session: Session,
    settings: AppSettings,
    me: Page,
    code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Without a code: a new secret to scan. With one: turns two-factor on and shows the
    recovery codes, once."""
    user = found(await users_repo.get(session, me.user.organization_id, me.user.id), "user")
    context: dict[str, object] = {"enrolment": None, "codes": None, "error": ""}
    try:
        if code:
            context["codes"] = await two_factor.confirm(session, settings, user, code)
            await actions.record(request, session, me.principal, "two_factor_confirm", user.id)
        else:
            context["enrolment"] = await two_factor.start(session, settings, user)
    except DomainError as exc:
        # Shown on the page (htmx swaps only what succeeds); nothing was changed.
        context["error"] = exc.detail
    return await page(request, session, me, "two_factor.html", context)
