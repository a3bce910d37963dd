"""What each layer of the API's request path costs per request: the first-page request
(`GET /v1/campaigns/{id}/posts`) served in-process, straight through ASGI (no socket, no
uvicorn), by the full app and by the app with one layer taken out: each middleware in turn,
and the rate limiter (its Redis round trip) replaced by one that allows everything. The
difference in this process's CPU time per request is the layer's cost. Variants take turns
in rounds and each keeps its median round, so a disturbance lands on all of them alike.

Run by `python -m bench.api` (`--layer-requests`); alone:
    python -m bench.api_layers DATABASE_URL REDIS_URL   (a database bench.api seeded)
The app's access log (one line per request, on stderr) is part of the path measured.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware

from app.main import create_app
from app.settings import Settings

Request = tuple[str, str]  # (path, API key)


class _AllowAll:
    """The rate limiter's interface, without Redis: the 'no rate limit' variant."""

    async def hit(self, key_hash: str, organization_id: uuid.UUID | None = None) -> None:
        return None


async def _call(app: FastAPI, path: str, key: str) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8101"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"accept", b"*/*"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8101),
        "state": {},
    }
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the client waits for its answer
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


def _name(m: Middleware) -> str:
    return getattr(m.cls, "__name__", str(m.cls))


async def _round(app: FastAPI, requests: Sequence[Request], n: int) -> float:
    """CPU seconds per request over n requests (cycling through `requests`)."""
    cpu0 = time.process_time()
    for i in range(n):
        path, key = requests[i % len(requests)]
        status = await _call(app, path, key)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")
    return (time.process_time() - cpu0) / n


async def measure(
    settings: Settings, requests: Sequence[Request], n: int = 2000, rounds: int = 5
) -> dict[str, Any]:
    """{'full_us': CPU µs per request of the whole app, 'layers': {layer: µs it costs}}."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        stack = list(app.user_middleware)
        limiter = app.state.ratelimiter

        def variant(without: str | None) -> Callable[[], None]:
            def apply() -> None:
                app.user_middleware = [m for m in stack if _name(m) != without]
                app.middleware_stack = None  # rebuilt on the next call
                app.state.ratelimiter = _AllowAll() if without == "rate limit" else limiter

            return apply

        names: list[str | None] = [None, *(_name(m) for m in stack), "rate limit"]
        samples: dict[str | None, list[float]] = {name: [] for name in names}
        broken: dict[str, str] = {}
        for name in names:  # warm every variant (caches, prepared statements)
            variant(name)()
            try:
                await _round(app, requests, max(10, n // 10))
            except Exception as exc:  # a layer others depend on: say so, measure the rest
                broken[str(name)] = f"{type(exc).__name__}: {exc}"[:200]
        for _ in range(rounds):
            for name in names:
                if str(name) in broken:
                    continue
                variant(name)()
                samples[name].append(await _round(app, requests, n))
        variant(None)()
    full = statistics.median(samples[None]) * 1e6
    layers = {
        str(name): round(full - statistics.median(samples[name]) * 1e6, 1)
        for name in names
        if name is not None and samples[name]
    }
    return {
        "requests_per_round": n,
        "rounds": rounds,
        "full_us": round(full, 1),
        "layers": layers,
        **({"not_measured": broken} if broken else {}),
    }


def table(result: dict[str, Any]) -> str:
    full = result["full_us"]
    lines = [f"{'layer taken out':<28}  {'µs CPU/request':>14}  {'share':>6}"]
    lines.append(f"{'-' * 28}  {'-' * 14}  {'-' * 6}")
    for name, us in sorted(result["layers"].items(), key=lambda kv: -kv[1]):
        lines.append(f"{name:<28}  {us:>14.1f}  {us / full:>6.1%}")
    lines.append(f"{'(the whole request)':<28}  {full:>14.1f}  {1:>6.0%}")
    for name, why in result.get("not_measured", {}).items():
        lines.append(f"{name}: not measured ({why})")
    return "\n".join(lines)


async def _main(url: str, redis_url: str, n: int, rounds: int) -> None:
    import asyncpg

    from bench import common
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
        result = await measure(settings, [(f"/v1/campaigns/{row['id']}/posts", key)], n, rounds)
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
