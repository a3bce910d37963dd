"""HTTP metrics for the API process, recorded by a pure ASGI middleware (no per-request task
or body buffering, unlike BaseHTTPMiddleware)."""

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "viewledger_http_requests_total",
    "HTTP requests answered, by route template and status class.",
    ["method", "route", "status_class"],
)
HTTP_LATENCY = Histogram(
    "viewledger_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

CHANGE_FEED_HOLD_BACK = Gauge(
    "viewledger_change_feed_hold_back_seconds",
    "How far behind now the change feed's horizon was at its latest read: "
    "CHANGE_FEED_SETTLE_SECONDS, or more while a write in the database is open.",
)

# The worker's heartbeat, for Prometheus: the worker beats in Redis (app.workers.metrics
# HEARTBEATS) and the API reads the newest beat at each scrape of its /metrics, so the figure
# is there, and ages, while every worker is down. 0 until a worker has beaten.
WORKER_HEARTBEAT = Gauge(
    "viewledger_worker_heartbeat_timestamp_seconds",
    "Unix time of the newest heartbeat any worker wrote in Redis, read at this scrape.",
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            # The template (/v1/posts/{post_id}), never the raw path: bounded label values.
            template = getattr(route, "path", None) or "unmatched"
            # Any string is a valid HTTP method; only known ones become label values.
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            HTTP_REQUESTS.labels(method, template, f"{status // 100}xx").inc()
            HTTP_LATENCY.labels(method, template).observe(time.perf_counter() - started)
