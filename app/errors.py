"""Every error leaves the API as `application/problem+json` (RFC 9457) with a stable `code`."""

import logging
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.db import describe_database_error, refuses_the_data
from app.domain.errors import (
    Conflict,
    DomainError,
    InvalidCursor,
    InvalidInput,
    NotFound,
    Unavailable,
)
from app.request_context import current_request_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    pointer: str = Field(description="JSON pointer to the offending input, e.g. `/body/cpm`.")
    message: str
    type: str = Field(description="Machine-readable kind of the validation failure.")


class Problem(BaseModel):
    type: str = Field(examples=["urn:viewledger:problem:post_not_finalized"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str = Field(
        examples=["Only a finalized post can be marked paid; this one is tracking."]
    )
    code: str = Field(examples=["post_not_finalized"], description="Stable machine code.")
    errors: list[FieldError] | None = None
    request_id: str | None = Field(
        None,
        description="The request's `X-Request-Id`: quote it when asking about this answer.",
        examples=["0193a5e2-7c1d-7b4e-9a1f-3c2d4e5f6a7b"],
    )
    existing_post_id: uuid.UUID | None = Field(
        None, description="With `post_exists`: the organization's post of that video."
    )
    existing_campaign_id: uuid.UUID | None = Field(
        None, description="With `post_exists`: the campaign that post is in."
    )
    post_ids: list[uuid.UUID] | None = Field(
        None,
        description="With `posts_not_ready` and `payout_posts_not_payable`: the posts concerned.",
    )
    payout_id: uuid.UUID | None = Field(
        None, description="With `post_in_open_payout`: the open payout batch the post is in."
    )


class ApiError(Exception):
    """Raised anywhere below a router; the handler turns it into a problem response."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers


def invalid(code: str, detail: str, pointer: str | None = None) -> ApiError:
    errors = [FieldError(pointer=pointer, message=detail, type=code)] if pointer else None
    return ApiError(422, code, detail, errors)


# A unique or foreign-key violation that a request raced into (the checks before it passed)
# still gets its precise code. Keys are constraint names from the naming convention.
CONSTRAINT_CODES: dict[str, tuple[str, str]] = {
    "posts_organization_id_platform_platform_post_id_key": (
        "post_exists",
        "The organization already tracks this video.",
    ),
    "cpm_tiers_campaign_id_name_key": ("cpm_tier_exists", "The campaign has a tier by that name."),
    "creators_organization_id_platform_lower_handle_key": (
        "creator_exists",
        "A creator with that handle already exists on that platform.",
    ),
    "creators_organization_id_platform_platform_user_id_key": (
        "creator_exists",
        "A creator with that platform user id already exists on that platform.",
    ),
    "campaign_members_pkey": ("member_exists", "The creator is already in the campaign."),
    "watched_accounts_campaign_id_creator_id_key": (
        "watch_exists",
        "The campaign already watches this creator's account.",
    ),
    "posts_cpm_tier_id_fkey": ("cpm_tier_in_use", "Posts use this tier."),
    "payout_lines_open_post_id_key": (
        "posts_not_ready",
        "A post of the selection joined another payout at the same moment; retry.",
    ),
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    errors: list[FieldError] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    request_id = current_request_id()
    body = Problem(
        type=f"urn:viewledger:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
        request_id=request_id,
        **(extra or {}),
    )
    response = JSONResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, media_type=PROBLEM_JSON
    )
    if request_id:
        # Also here, not only in the request-id middleware: the last-resort 500 handler
        # answers outside every middleware.
        response.headers["X-Request-Id"] = request_id
    return response


def _pointer(loc: tuple[Any, ...]) -> str:
    # A tagged union's branch (`<url>`) is in pydantic's location but not in the document.
    return "/" + "/".join(str(part) for part in loc if not str(part).startswith("<"))


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    response = problem_response(exc.status, exc.code, exc.detail, exc.errors)
    response.headers.update(exc.headers or {})
    return response


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    """The one place domain refusals become problems."""
    assert isinstance(exc, DomainError)
    if isinstance(exc, NotFound):
        return problem_response(404, exc.code, exc.detail)
    if isinstance(exc, InvalidInput):
        errors = None
        if exc.field is not None:
            errors = [FieldError(pointer=f"/body/{exc.field}", message=exc.detail, type=exc.code)]
        return problem_response(422, exc.code, exc.detail, errors)
    if isinstance(exc, Unavailable):
        response = problem_response(502, exc.code, exc.detail)
        response.headers["Retry-After"] = "5"
        return response
    if isinstance(exc, InvalidCursor):
        errors = [FieldError(pointer="/query/cursor", message=exc.detail, type=exc.code)]
        return problem_response(422, exc.code, exc.detail, errors)
    assert isinstance(exc, Conflict), f"unmapped domain error {type(exc).__name__}"
    return problem_response(409, exc.code, exc.detail, extra=exc.extra)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(pointer=_pointer(e["loc"]), message=e["msg"], type=e["type"])
        for e in exc.errors()
    ]
    first = errors[0] if errors else None
    detail = f"{first.pointer}: {first.message}" if first else "The request is not valid."
    return problem_response(422, "validation_failed", detail, errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        404: "route_not_found",
        405: "method_not_allowed",
        400: "invalid_body",
        413: "body_too_large",
    }
    code = codes.get(exc.status_code, HTTPStatus(exc.status_code).name.lower())
    response = problem_response(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method the path answers to. Starlette's own Allow header names only the first
    route that matched the path, and FastAPI registers one route per method."""
    return [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
        )
    ]


def _constraint_name(exc: DBAPIError) -> str | None:
    cause = getattr(exc.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None)


def conflict_of(exc: IntegrityError) -> tuple[str, str]:
    """The code and words of a unique or foreign-key violation (the API's 409, the
    dashboard's message)."""
    name = _constraint_name(exc)
    if name not in CONSTRAINT_CODES:
        log.warning("unmapped integrity error: %s", describe_database_error(exc))
    return CONSTRAINT_CODES.get(name or "", ("conflict", "The change conflicts with data."))


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    return problem_response(409, *conflict_of(exc))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if refuses_the_data(exc):
        # Validation should catch these first; this keeps the promise of "never a 500".
        log.warning("database refused input: %s", describe_database_error(exc))
        return problem_response(422, "invalid_value", "A value is outside what can be stored.")
    return await _unavailable(request, exc)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    # PostgreSQL or Redis is down or restarting: the request is safe to retry shortly.
    what = describe_database_error(exc) if isinstance(exc, DBAPIError) else repr(exc)
    log.warning("dependency unavailable: %s", what)
    response = problem_response(
        503, "service_unavailable", "A backing service is unavailable; retry shortly."
    )
    response.headers["Retry-After"] = "5"
    return response


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    for unavailable in (OSError, RedisError):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(Exception, _unhandled)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in {
        400: "The body could not be read (not UTF-8).",
        401: "Missing or unknown API key.",
        403: "The key's role does not allow this.",
        404: "Not found in this organization.",
        409: "The request conflicts with the resource's state; `code` names the rule.",
        422: "The input is not valid; `errors` points at each offending field.",
        502: "A platform this request needed did not answer (e.g. a short link); retry later.",
        429: "Over the key's or the organization's rate limit; retry after `Retry-After` seconds.",
        503: "PostgreSQL or Redis is unavailable; retry after `Retry-After` seconds.",
    }.items()
}
