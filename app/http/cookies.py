"""The session cookies the service sets (the creator portal's and signed-in users'): HttpOnly,
SameSite=Lax, on the whole site, and Secure over HTTPS unless a setting says otherwise (behind
a TLS-terminating proxy that does not pass the scheme on, set it to true)."""

from starlette.requests import Request
from starlette.responses import Response


def _secure(request: Request, override: bool | None) -> bool:
    return override if override is not None else request.url.scheme == "https"


def set_session(
    response: Response,
    request: Request,
    name: str,
    token: str,
    *,
    max_age_seconds: int,
    secure: bool | None,
) -> None:
    response.set_cookie(
        name,
        token,
        max_age=max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=_secure(request, secure),
    )


def clear_session(response: Response, request: Request, name: str, *, secure: bool | None) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=_secure(request, secure)
    )
