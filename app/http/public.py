"""The endpoints anyone may call without an API key (the portal's sign-in, Discord's
interactions): each gets a small body limit and a per-address budget of requests, applied
before anything reads or parses the body, so a flood of large or many requests from one
address costs one Redis call each and is refused (413, 429 `rate_limited`).

The address is the ASGI client: the connecting address, unless it is one of TRUSTED_PROXIES
(then the proxy middleware in front has put the forwarded client there)."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import problem_response
from app.http.bodylimit import BodyLimitMiddleware
from app.http.ratelimit import RateLimiter


@dataclass(frozen=True)
class Gate:
    name: str  # the budget's namespace: one per kind of endpoint
    max_body_bytes: int
    per_second: float
    burst: int


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class PublicGateMiddleware:
    def __init__(self, app: ASGIApp, gates: Mapping[tuple[str, str], Gate]) -> None:
        """`gates`: (method, path) -> its gate."""
        self.app = app
        self.gates = dict(gates)
        self._bounded = {
            gate.name: BodyLimitMiddleware(app, gate.max_body_bytes) for gate in self.gates.values()
        }
        self._limiters: dict[tuple[str, int], RateLimiter] = {}

    def _limiter(self, scope: Scope, gate: Gate) -> RateLimiter | None:
        app = scope.get("app")
        redis = getattr(getattr(app, "state", None), "redis", None)
        if redis is None:
            return None
        key = (gate.name, id(redis))
        if key not in self._limiters:
            self._limiters[key] = RateLimiter(redis, gate.per_second, gate.burst)
        return self._limiters[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate = (
            self.gates.get((scope.get("method", ""), scope.get("path", "")))
            if scope["type"] == "http"
            else None
        )
        if gate is None:
            await self.app(scope, receive, send)
            return
        limiter = self._limiter(scope, gate)
        address = f"{gate.name}-address:{client_address(scope)}"
        decision = (
            None
            if limiter is None
            else await limiter.hit(hashlib.sha256(address.encode()).hexdigest())
        )
        if decision is not None and not decision.allowed:
            wait = decision.retry_after_seconds
            response = problem_response(
                429, "rate_limited", f"Too many requests from your address; retry in {wait} s."
            )
            response.headers["Retry-After"] = str(wait)
            await response(scope, receive, send)
            return
        await self._bounded[gate.name](scope, receive, send)
