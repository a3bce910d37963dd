"""`python -m bench.dashboard`: the dashboard's pages under load, each beside the JSON API's
same query (issues 26 and 27).

1. Reuses bench.api's seeded database (1,000,000 posts across 10 organizations and 1,000
   campaigns; seeded on the first run, see bench/api_seed.py) and gives every organization
   an admin user, signed in once: the pages are asked for with that session's cookie.
   Some posts of each organization are held and flagged so the inbox has work in it.
2. Starts the service as production does (uvicorn, 2 workers; rate limits as bench.api's,
   sized above what the machine serves) and drives it with wrk at each concurrency on:
   the needs-attention inbox, the posts table (first page, a deep page, a filtered page),
   a post's page, a campaign's analytics and the payments page, each followed by its API
   twin (the same query, as JSON, with the key).
3. Prints a table per scenario and a last JSON line; targets: p99 under 100 ms at 10
   concurrent users and within 1.5x of the API twin's p99.

`--rounds N` measures page and twin N times each, taking turns: a side's figures are its
median round (by p99) and `x_api` the median of the rounds' page/twin ratios, each ratio of
two runs a few seconds apart (lopsided runs, all connections on one worker, left out while
others remain; with an even count, the upper median; a side's errors are every round's).
On a shared VM one 10 s run of each side moved the ratio by up to 0.7 from run to run (the
twin's p99 alone 27-56 ms); pairs in turns cancel the drift.

What each page costs the service's own process (CPU per request, served in-process, which
a machine shared with other work does not inflate): `python -m bench.dashboard_cpu`.
"""

import argparse
import asyncio
import os
import random
import secrets
import statistics
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from bench import common
from bench.api import (
    DEFAULT_DATABASE,
    RATE_LIMIT_NOTE,
    RATE_LIMITS,
    lopsided,
    measure,
    prepare,
    server_args,
    shape_of,
)
from bench.load import HEADERS, Item, LoadResult, wrk_path

PASSWORD = "bench dashboard passphrase 7"
EMAIL = "bench-{n}@dashboard.bench"
HELD_PER_ORG = 300  # posts made held (with a hold) and flagged per organization
# The inbox's API twin: the JSON list of the same kind of work (pending_cpm posts).
INBOX_TWIN = "/v1/posts?status=pending_cpm"


def _at_least_one(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return n


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dashboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", default="10")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--organizations", type=int, default=10)
    parser.add_argument("--campaigns-per-org", type=int, default=100)
    parser.add_argument("--posts-per-campaign", type=int, default=1000)
    parser.add_argument("--snapshots-per-post", type=int, default=10)
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--quiet-wait", type=float, default=60.0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=_at_least_one, default=1, help="page and twin in turns")
    return parser.parse_args(argv)


# Each scenario: the page, and its API twin (the same query as JSON, with the key).
SCENARIOS = (
    "inbox",
    "posts_first",
    "posts_deep",
    "posts_filtered",
    "post_page",
    "analytics",
    "payments",
)


async def sign_in_users(url: str) -> dict[str, str]:
    """An admin user per organization (made once) and a new session for each, through the
    service's own functions; the session cookie by organization id."""
    from app.auth import hash_key
    from app.db import create_engine, create_sessionmaker, session_scope
    from app.domain.enums import OrgRole
    from app.repositories import users as users_repo
    from app.services import users
    from app.settings import Settings

    settings = Settings(database_url=url, redis_url=common.BENCH_REDIS_URL)
    engine = create_engine(settings)
    cookies: dict[str, str] = {}
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            orgs = (await session.execute(text("SELECT id FROM organizations ORDER BY id"))).all()
            now = datetime.now(UTC)
            for n, (org_id,) in enumerate(orgs):
                email = EMAIL.format(n=n)
                user = await users_repo.by_email(session, email)
                if user is None:
                    user = await users.create_signed_up(
                        session, settings, org_id, email, "Bench", OrgRole.ADMIN, PASSWORD
                    )
                token = secrets.token_urlsafe(32)
                await users_repo.start_session(
                    session,
                    user,
                    hash_key(token),
                    secrets.token_urlsafe(32),
                    now,
                    now + timedelta(hours=12),
                    "bench",
                )
                cookies[str(org_id)] = f"{users.COOKIE}={token}"
    finally:
        await engine.dispose()
    return cookies


async def seed_attention(conn: asyncpg.Connection) -> int:
    """Open holds and flags on HELD_PER_ORG tracking posts of each organization (once), so
    the inbox reads real work at 1,000,000 posts."""
    have = await conn.fetchval("SELECT count(*) FROM post_holds WHERE code = 'bench_hold'")
    if have:
        return int(have)
    await conn.execute(
        """
        WITH picked AS (
          SELECT id, organization_id FROM (
            SELECT p.id, p.organization_id,
                   row_number() OVER (PARTITION BY p.organization_id ORDER BY p.id) AS n
            FROM posts p TABLESAMPLE SYSTEM (1) REPEATABLE (11)
            WHERE p.status = 'tracking'
          ) s WHERE n <= $1
        ), held AS (
          INSERT INTO post_holds (organization_id, post_id, code, reason, raised_at)
          SELECT organization_id, id, 'bench_hold', 'Held for the benchmark.', now() FROM picked
          RETURNING post_id
        )
        INSERT INTO post_flags (organization_id, post_id, code, reason, evidence, raised_at)
        SELECT organization_id, id, 'view_spike', 'Views jumped 10x in a day.', '{}', now()
        FROM picked
        """,
        HELD_PER_ORG,
    )
    await conn.execute("VACUUM (ANALYZE) post_holds, post_flags")
    return int(await conn.fetchval("SELECT count(*) FROM post_holds WHERE code = 'bench_hold'"))


def items(
    name: str, data: dict[str, Any], cookies: dict[str, str], org_of_key: dict[str, str]
) -> tuple[list[Item], list[Item]]:
    """The page's requests and its API twin's, over the same campaigns or posts."""
    rng = random.Random(7)
    campaigns: list[tuple[str, str]] = list(data["campaigns"])
    rng.shuffle(campaigns)
    posts: list[tuple[str, str]] = list(data["posts"])[:2000]

    def page(path: str, key: str) -> Item:
        return Item("GET", path, "", cookie=cookies[org_of_key[key]])

    def api(path: str, key: str) -> Item:
        return Item("GET", path, key)

    pairs: list[tuple[str, str, str]]
    if name == "inbox":
        keys = sorted(set(org_of_key))
        pairs = [("/app", INBOX_TWIN, k) for k in keys]
    elif name == "posts_first":
        pairs = [
            (f"/app/posts?campaign_id={c}", f"/v1/posts?campaign_id={c}", k) for c, k in campaigns
        ]
    elif name == "posts_filtered":
        q = "status=finalized&platform=tiktok"
        pairs = [
            (f"/app/posts?campaign_id={c}&{q}", f"/v1/posts?campaign_id={c}&{q}", k)
            for c, k in campaigns
        ]
    elif name == "posts_deep":
        pairs = [
            (
                f"/app/posts?campaign_id={c}&cursor={cur}",
                f"/v1/posts?campaign_id={c}&cursor={cur}",
                k,
            )
            for c, k, cur in data["deep"]
        ]
    elif name == "post_page":
        pairs = [(f"/app/posts/{p}", f"/v1/posts/{p}/evidence", k) for p, k in posts]
    elif name == "analytics":  # a campaign's last 30 days (the page asks for the top 10)
        q = "period=30d"
        pairs = [
            (f"/app/analytics?{q}&campaign_id={c}", f"/v1/analytics?{q}&top=10&campaign_id={c}", k)
            for c, k in campaigns
        ]
    elif name == "payments":  # the organization's ready-to-pay lines
        pairs = [("/app/payments", "/v1/payouts/ready", k) for k in sorted(set(org_of_key))]
    else:
        raise ValueError(name)
    return [page(p, k) for p, _, k in pairs], [api(a, k) for _, a, k in pairs]


async def deep_cursors(
    client: httpx.AsyncClient, campaigns: list[tuple[str, str]], depth: int = 900
) -> list[tuple[str, str, str]]:
    """The cursor `depth` posts into each campaign's list, through the API's own pages (the
    table's pages are the same list's, so the same cursor goes deep in both). `client`
    reaches the service, over HTTP or in-process (bench.dashboard_cpu)."""
    found = []
    for cid, key in campaigns:
        cursor = await common.deep_cursor(client, "/v1/posts", key, depth, campaign_id=cid)
        if cursor:
            found.append((cid, key, cursor))
    return found


@dataclass(frozen=True)
class Medians:
    """A scenario's rounds, per concurrency: each side's median round by p99, and the
    median of the rounds' page/twin p99 ratios (None when a twin's p99 was 0)."""

    page: list[LoadResult]
    api: list[LoadResult]
    ratios: list[float | None]


def _medians(rounds: list[tuple[list[LoadResult], list[LoadResult]]], workers: int) -> Medians:
    """Lopsided runs (one worker given most connections: one core measured, not the
    service; bench.api retries them, then keeps the last) are left out while any round of
    that side, or any pair for a ratio, is not. With an even count of rounds both take the
    upper median (the slower side's run, the larger ratio). A side's errors are every
    round's: a round that failed is never hidden behind the median's."""

    def even(run: LoadResult) -> bool:
        return not lopsided(run.spread, workers, run.concurrency)

    def middle(runs: list[LoadResult]) -> LoadResult:
        kept = [r for r in runs if even(r)] or runs
        chosen = sorted(kept, key=lambda r: r.p99_ms)[len(kept) // 2]
        return replace(chosen, errors=sum(r.errors for r in runs))

    def ratio(pairs: list[tuple[LoadResult, LoadResult]]) -> float | None:
        kept = [(p, a) for p, a in pairs if even(p) and even(a)] or pairs
        ratios = [p.p99_ms / a.p99_ms for p, a in kept if a.p99_ms]
        return statistics.median_high(ratios) if ratios else None

    levels = range(len(rounds[0][0]))
    return Medians(
        [middle([page[i] for page, _ in rounds]) for i in levels],
        [middle([api[i] for _, api in rounds]) for i in levels],
        [ratio([(page[i], api[i]) for page, api in rounds]) for i in levels],
    )


def _figures(runs: list[LoadResult]) -> dict[str, Any]:
    return {
        f"c{r.concurrency}": {
            "rps": round(r.rps, 1),
            "p50_ms": round(r.p50_ms, 2),
            "p99_ms": round(r.p99_ms, 2),
            "errors": r.errors,
        }
        for r in runs
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    wrk_path()
    started = time.perf_counter()
    url = common.database_url(args.database)
    shape = shape_of(args)
    data = await prepare(url, shape, args.reseed)
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        held = await seed_attention(conn)
        rows = await conn.fetch("SELECT id, organization_id FROM campaigns")
        org_of_campaign = {str(r["id"]): str(r["organization_id"]) for r in rows}
    finally:
        await conn.close()
    org_of_key = {k: org_of_campaign[c] for c, k in data["campaigns"]}
    cookies = await sign_in_users(url)
    print(f"   {data['counts']}; {held:,} posts held and flagged; {len(cookies)} users signed in")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": common.BENCH_REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        **RATE_LIMITS,
    }
    base = f"http://127.0.0.1:{args.port}"
    common.free_port_or_fail(args.port)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    print(f"\n== dashboard and API: uvicorn app.main:create_app, {args.workers} workers, {base}")
    print(f"   {RATE_LIMIT_NOTE}")
    results: dict[str, Medians] = {}
    with common.child_process(
        server_args("app.main:create_app", args.port, args.workers), env=env, log_name="dashboard"
    ) as (proc, _):
        common.wait_for_port(args.port, proc, timeout=120)  # 2 workers start slowly when busy
        rng = random.Random(3)
        sample = list(data["campaigns"])
        rng.shuffle(sample)
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            data["deep"] = await deep_cursors(client, sample[:30])
        for name in [s for s in args.scenarios.split(",") if s]:
            page_items, api_items = items(name, data, cookies, org_of_key)
            first = page_items[0]
            async with httpx.AsyncClient(timeout=30) as client:
                check = await client.get(base + first.path, headers={"Cookie": first.cookie or ""})
            print(f"   {name}: {len(page_items):,} pages; {first.path} -> {check.status_code}")
            if check.status_code != 200:  # wrk counts a redirect to sign in as an answer
                raise SystemExit(f"{first.path} answered {check.status_code}: {check.text[:300]}")
            rounds: list[tuple[list[LoadResult], list[LoadResult]]] = []
            for n in range(args.rounds):
                pair = (
                    await measure(base, proc.pid, page_items, concurrencies, args),
                    await measure(base, proc.pid, api_items, concurrencies, args),
                )
                rounds.append(pair)
                rows = [[f"page {n + 1}", *r.row()] for r in pair[0]]
                rows += [[f"api twin {n + 1}", *r.row()] for r in pair[1]]
                print(common.table(["what", *HEADERS], rows), flush=True)
            results[name] = _medians(rounds, args.workers)
    figures: dict[str, Any] = {}
    summary = []
    for name, median in results.items():
        figures[name] = {"page": _figures(median.page), "api": _figures(median.api)}
        for page_run, api_run, times in zip(median.page, median.api, median.ratios, strict=True):
            figures[name][f"p99_times_api_c{page_run.concurrency}"] = times and round(times, 2)
            summary.append(
                [name, page_run.concurrency, page_run.p50_ms, page_run.p99_ms, api_run.p99_ms,
                 times, page_run.errors]
            )  # fmt: skip
    print("\n== figures (targets: page p99 < 100 ms at c10, and within 1.5x of its API twin)")
    print(
        common.table(
            ["scenario", "conc", "p50_ms", "p99_ms", "api_p99_ms", "x_api", "errors"], summary
        )
    )
    return {
        **figures,
        "workers": args.workers,
        "rounds": args.rounds,
        "dataset": data["counts"],
        "held_and_flagged": held,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": common.machine(),
        "git": common.git_head(),
        "run_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    common.last_line(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
