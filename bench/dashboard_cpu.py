"""What each dashboard page costs the service's own process, beside its API twin: the pages of
`python -m bench.dashboard` served in-process, straight through ASGI (no socket, no uvicorn,
no wrk), each measured as this process's CPU time per request and the statements it sends.
On a shared machine wall time is whatever the neighbours leave; CPU time is the page's own.
Pages and twins take turns in rounds and each keeps its median round. The httpx client and
its ASGI transport run in this process too, so their CPU is in every figure, the same for a
page and its twin: compare the two, not either with a real server's.

    python -m bench.dashboard_cpu [--scenarios inbox,posts_first] [--profile inbox]

Reuses bench.dashboard's seeded database (the same shape options; BENCH_DATABASE_SUFFIX as
there). `--profile NAME` prints the top functions of that page by their own CPU time
(cProfile), which is where to look when a page costs more than its twin. Prints a table and,
as the last line, one JSON object with every figure (its smoke run is in `make test`).
"""

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import statistics
import time
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import event

from app.repositories import written
from bench import common
from bench.api import DEFAULT_DATABASE, RATE_LIMITS, prepare, shape_of
from bench.dashboard import SCENARIOS, deep_cursors, items, seed_attention, sign_in_users

# The port uvicorn would serve on, for the Host header and the scope's server.
PORT = 8103


class Statements:
    """Statements the app sends: through its engine (every session is made from it), and
    straight on a session's driver connection (app.repositories.written)."""

    def __init__(self, app: FastAPI) -> None:
        self.count = 0

        @event.listens_for(app.state.engine.sync_engine, "before_cursor_execute")
        def counted(*args: Any) -> None:
            self.count += 1

        direct = written.fetch_sql

        async def fetch_sql(*args: Any) -> Any:
            self.count += 1
            return await direct(*args)

        written.fetch_sql = fetch_sql  # type: ignore[assignment]


async def main_async(args: argparse.Namespace) -> None:
    from app.main import create_app
    from app.settings import Settings

    url = common.database_url(args.database)
    data = await prepare(url, shape_of(args), False)
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        await seed_attention(conn)
        rows = await conn.fetch("SELECT id, organization_id FROM campaigns")
        org_of_campaign = {str(r["id"]): str(r["organization_id"]) for r in rows}
    finally:
        await conn.close()
    org_of_key = {k: org_of_campaign[c] for c, k in data["campaigns"]}
    cookies = await sign_in_users(url)
    settings = Settings(
        database_url=url,
        redis_url=common.BENCH_REDIS_URL,
        **{k.lower(): v for k, v in RATE_LIMITS.items()},  # type: ignore[arg-type]
    )
    app = create_app(settings)
    names = [s for s in args.scenarios.split(",") if s]
    rows_out = []
    async with app.router.lifespan_context(app):
        statements = Statements(app)
        data["deep"] = []
        if "posts_deep" in names:
            depth = min(900, args.posts_per_campaign * 9 // 10)  # as deep as a small seed goes
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                data["deep"] = await deep_cursors(client, data["campaigns"][:30], depth)
        for name in names:
            page_items, api_items = items(name, data, cookies, org_of_key)
            page_items, api_items = page_items[: args.requests], api_items[: args.requests]
            per: dict[str, list[float]] = {"page": [], "api": []}
            counts = {}
            for what, reqs in (("page", page_items), ("api", api_items)):
                await common.asgi_round(app, reqs, max(5, args.requests // 5), PORT)  # warm
                before = statements.count
                await common.asgi_round(app, reqs, len(reqs), PORT)
                counts[what] = (statements.count - before) / len(reqs)
            for _ in range(args.rounds):
                for what, reqs in (("page", page_items), ("api", api_items)):
                    per[what].append(await common.asgi_round(app, reqs, len(reqs), PORT))
            page_us = statistics.median(per["page"]) * 1e6
            api_us = statistics.median(per["api"]) * 1e6
            rows_out.append(
                [name, round(page_us), round(api_us), round(page_us / api_us, 2),
                 counts["page"], counts["api"]]
            )  # fmt: skip
            print(common.table(["scenario", "page_us", "api_us", "x_api", "page_sql", "api_sql"],
                               rows_out[-1:]), flush=True)  # fmt: skip
            if args.profile == name:
                profile = cProfile.Profile(time.process_time)
                profile.enable()
                await common.asgi_round(app, page_items, len(page_items), PORT)
                profile.disable()
                out = io.StringIO()
                stats = pstats.Stats(profile, stream=out)
                stats.sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())
    print("\n== CPU per request in this process (µs), median of rounds; statements per request")
    print(common.table(["scenario", "page_us", "api_us", "x_api", "page_sql", "api_sql"], rows_out))
    # As every benchmark ends: one JSON object with every figure.
    keys = ("page_us", "api_us", "x_api", "page_statements", "api_statements")
    print(json.dumps({row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows_out}))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dashboard_cpu",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenarios", default=",".join(s for s in SCENARIOS if s != "payments"))
    parser.add_argument("--requests", type=int, default=100, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="a scenario to profile (cProfile)")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--organizations", type=int, default=10)
    parser.add_argument("--campaigns-per-org", type=int, default=100)
    parser.add_argument("--posts-per-campaign", type=int, default=1000)
    parser.add_argument("--snapshots-per-post", type=int, default=10)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main_async(parse_args()))
