"""Who is looking at a dashboard page: the user a session cookie names, found by the same
checks as a /v1 request signed in by that cookie (app.deps.session_caller: live session,
second factor, CSRF token on every write, the rate limit). A page asked for without a live
session sends the browser to the sign-in page; an htmx request is told to go there."""

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import Principal
from app.deps import Session, session_caller
from app.errors import ApiError

SIGN_IN = "/app/sign-in"
TWO_FACTOR = "/app/two-factor"


class GoTo(Exception):
    """Answered by sending the browser to `location`."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def go_to(request: Request, location: str) -> Response:
    """A redirect that works for a plain request and for an htmx one (which would otherwise
    swap the page it is sent to into the element that asked)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if value and value.startswith("/app") and not value.startswith("//"):
        return value
    return "/app"


async def _user(request: Request, session: Session) -> Principal:
    try:
        return await session_caller(request, session)
    except ApiError as exc:
        if exc.status == 401:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise GoTo(f"{SIGN_IN}?next={quote(here)}") from None
        if exc.code == "two_factor_setup_required":
            raise GoTo(TWO_FACTOR) from None
        raise


User = Annotated[Principal, Depends(_user)]


async def _go_to(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GoTo)
    return go_to(request, exc.location)


def install(app: FastAPI) -> None:
    app.add_exception_handler(GoTo, _go_to)
