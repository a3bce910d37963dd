"""What each layer of the API's request path costs per request: the first-page request
(`GET /v1/campaigns/{id}/posts`) served in-process, straight through ASGI (no socket, no
uvicorn), by the full app with a timing shim between every two layers of its middleware
stack (FastAPI's own included). A shim adds up this process's CPU time spent below it, and
the part of it spent in the `send` it passes down (the layers above writing the answer), so
each layer's own cost is its share of both: what it does on the way in and out and in its
`send` wrapper, nothing of the layers below. Inside AuthenticateFirst, the rate limiter's
Redis call and the route's lean path (app.deps.LEAN: the query, the page, the JSON) are
timed apart. Then the same with the lean path off: what the ordinary path (FastAPI's
parameters, dependencies and response model) costs for the same request. Rounds alternate
between the two; each keeps its median round.

Run by `python -m bench.api` (`--layer-requests`); alone:
    python -m bench.api_layers DATABASE_URL REDIS_URL   (a database bench.api seeded)
The app's access log (one line per request, on stderr) is part of the path measured; each
shim adds about a microsecond to the layer above it.
"""

import argparse
import asyncio
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import LEAN
from app.main import create_app
from app.routers.posts import campaign_posts_list
from app.settings import Settings
from bench import common
from bench.load import Item

# The port uvicorn would serve on, for the Host header and the scope's server.
PORT = 8101


class _Totals:
    """CPU seconds by part: `in` (below a shim, all of it) and `send` (in the send it passed)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)

    def timed_send(self, part: str, send: Send) -> Send:
        async def timed(message: Message) -> None:
            t0 = time.process_time()
            try:
                await send(message)
            finally:
                self.cpu[f"{part}:send"] += time.process_time() - t0

        return timed


class _Shim:
    def __init__(self, app: ASGIApp, part: str, totals: _Totals) -> None:
        self.app, self.part, self.totals = app, part, totals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.process_time()
        try:
            await self.app(scope, receive, self.totals.timed_send(self.part, send))
        finally:
            self.totals.cpu[f"{self.part}:in"] += time.process_time() - t0


class _TimedLimiter:
    def __init__(self, limiter: Any, totals: _Totals) -> None:
        self.limiter, self.totals = limiter, totals

    async def hit(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.process_time()
        try:
            return await self.limiter.hit(*args, **kwargs)
        finally:
            self.totals.cpu["rate limit:in"] += time.process_time() - t0


def _timed_lean(lean: Any, totals: _Totals) -> Any:
    async def timed(scope: Scope, receive: Receive, send: Send, *args: Any) -> bool:
        t0 = time.process_time()
        try:
            answered: bool = await lean(scope, receive, totals.timed_send("lean", send), *args)
            return answered
        finally:
            totals.cpu["lean:in"] += time.process_time() - t0

    return timed


def _layers(app: FastAPI) -> list[Any]:
    """The middleware stack, outermost first, down to (not including) the router."""
    found, layer = [], app.middleware_stack
    while layer is not None and layer is not app.router and hasattr(layer, "app"):
        found.append(layer)
        layer = layer.app
    return found


ROUTE = "router and endpoint"
RATE_LIMIT = "  rate limit (Redis GCRA script)"
LEAN_PATH = "  lean path (query, page, JSON)"
WHOLE = "(the whole request)"


def _own(cpu: dict[str, float], names: list[str], n: int) -> dict[str, float]:
    """µs per request of each layer on its own: what ran below the shim above it minus what
    ran below the shim under it, each without the sends of the layers above. Shim i sits
    under layer i ("whole" wraps the app)."""

    def below(part: str) -> float:
        return cpu.get(f"{part}:in", 0.0) - cpu.get(f"{part}:send", 0.0)

    above = ["whole", *(str(i) for i in range(len(names)))]
    own: dict[str, float] = {}
    for i, name in enumerate(names):
        own[name] = below(above[i]) - below(above[i + 1])
    own[ROUTE] = below(above[-1])
    rate, lean = cpu.get("rate limit:in", 0.0), below("lean")
    if "AuthenticateFirst" in own:
        own["AuthenticateFirst"] -= rate + lean
    own[RATE_LIMIT], own[LEAN_PATH] = rate, lean
    own[WHOLE] = below("whole")
    return {k: round(v / n * 1e6, 1) for k, v in own.items()}


async def measure(
    settings: Settings, requests: Sequence[common.InProcessGet], n: int = 2000, rounds: int = 5
) -> dict[str, Any]:
    """{'layers': {layer: CPU µs per request}, 'ordinary': the same without the lean path}."""
    app = create_app(settings)
    lean = getattr(campaign_posts_list, LEAN)
    async with app.router.lifespan_context(app):
        await common.asgi_round(app, requests, 5, PORT)  # builds the middleware stack
        stack = _layers(app)
        names = [type(layer).__name__ for layer in stack]
        totals = _Totals()
        for i, layer in enumerate(stack):
            layer.app = _Shim(layer.app, str(i), totals)
        whole = _Shim(app, "whole", totals)
        app.state.ratelimiter = _TimedLimiter(app.state.ratelimiter, totals)
        samples: dict[str, list[dict[str, float]]] = {"lean": [], "ordinary": []}
        try:
            for variant in ("lean", "ordinary"):  # warm both (caches, prepared statements)
                setattr(
                    campaign_posts_list,
                    LEAN,
                    _timed_lean(lean, totals) if variant == "lean" else None,
                )
                await common.asgi_round(whole, requests, max(10, n // 10), PORT)
            for _ in range(rounds):
                for variant in ("lean", "ordinary"):
                    setattr(
                        campaign_posts_list,
                        LEAN,
                        _timed_lean(lean, totals) if variant == "lean" else None,
                    )
                    totals.cpu.clear()
                    await common.asgi_round(whole, requests, n, PORT)
                    samples[variant].append(_own(dict(totals.cpu), names, n))
        finally:
            setattr(campaign_posts_list, LEAN, lean)

    def median(variant: str) -> dict[str, float]:
        rows = samples[variant]
        return {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0]}

    return {
        "requests_per_round": n,
        "rounds": rounds,
        "full_us": median("lean")[WHOLE],
        "layers": median("lean"),
        "ordinary": median("ordinary"),
    }


def table(result: dict[str, Any]) -> str:
    lean, ordinary = result["layers"], result["ordinary"]
    full = lean[WHOLE]
    head = ("layer (outermost first)", "µs CPU/request", "share", "ordinary path")
    lines = [f"{head[0]:<34}  {head[1]:>14}  {head[2]:>6}  {head[3]:>13}"]
    lines.append(f"{'-' * 34}  {'-' * 14}  {'-' * 6}  {'-' * 13}")
    for name, us in lean.items():
        share = f"{us / full:.1%}" if full else ""
        lines.append(f"{name:<34}  {us:>14.1f}  {share:>6}  {ordinary.get(name, 0.0):>13.1f}")
    lines.append(
        "(ordinary path: the same request with the lean path off, FastAPI's parameters,"
        " dependencies and response model answering it)"
    )
    return "\n".join(lines)


async def _main(url: str, redis_url: str, n: int, rounds: int) -> None:
    import asyncpg

    from bench.api import RATE_LIMITS

    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT c.id, o.id AS org FROM campaigns c JOIN organizations o"
            " ON o.id = c.organization_id LIMIT 1"
        )
        assert row is not None
        from app.auth import display_prefix, generate_key, hash_key

        key = generate_key()
        await conn.execute(
            "INSERT INTO api_keys (id, organization_id, name, role, prefix, key_hash)"
            " VALUES (gen_random_uuid(), $1, 'bench-layers', 'admin', $2, $3)",
            row["org"],
            display_prefix(key),
            hash_key(key),
        )
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            **{k.lower(): v for k, v in RATE_LIMITS.items()},  # type: ignore[arg-type]
        )
        request = Item("GET", f"/v1/campaigns/{row['id']}/posts", key)
        result = await measure(settings, [request], n, rounds)
        print(table(result))
        print(json.dumps(result, separators=(",", ":")))
    finally:
        await conn.execute("DELETE FROM api_keys WHERE name = 'bench-layers'")
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.api_layers", description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("redis_url")
    parser.add_argument("--requests", type=int, default=300, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    asyncio.run(_main(a.database_url, a.redis_url, a.requests, a.rounds))
