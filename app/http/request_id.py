"""The outermost middleware: gives every request an id (the caller's `X-Request-Id` when it
is sane, else a new one), puts it and the edge's headers on every answer, and logs each
request once: id, method, route template, status, duration and organization."""

import logging
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import request_context as context
from app.ids import new_id

log = logging.getLogger("app.access")

REQUEST_ID = "X-Request-Id"
# A caller's id is echoed into headers and logs: only short, plain tokens are kept.
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _callers_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE.fullmatch(text) else None
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        ctx = context.begin(_callers_id(scope) or str(new_id()))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID] = ctx.request_id
                for name, value in ctx.headers.items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            org = str(ctx.organization_id) if ctx.organization_id else None
            log.info(
                "%s %s %s %.1fms",
                method,
                route,
                status,
                duration_ms,
                extra={
                    "request_id": ctx.request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                    "organization_id": org,
                },
            )
