"""What the edge knows about the request being answered, shared by the middleware, the
dependencies and the error handlers through one context variable."""

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestContext:
    request_id: str
    # Set once the API key is known: the access log names the organization.
    organization_id: uuid.UUID | None = None
    # Headers every answer to this request carries (the rate limit's state), added at the
    # edge so error answers and plain Responses get them too.
    headers: dict[str, str] = field(default_factory=dict)
    # The idempotency key this request holds, if any (app.idempotency.Claim).
    idempotency: Any = None


_current: ContextVar[RequestContext | None] = ContextVar("viewledger_request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def begin(request_id: str) -> RequestContext:
    """Not reset when the request ends, on purpose: Starlette's last-resort 500 handler runs
    outside every middleware but in the same task, and still finds the request id. Each
    server request is its own task, so nothing carries over to another request."""
    context = RequestContext(request_id)
    _current.set(context)
    return context


def current_request_id() -> str | None:
    context = _current.get()
    return context.request_id if context else None
