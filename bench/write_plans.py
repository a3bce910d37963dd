"""`python -m bench.write_plans`: every statement of the stats write with the plan PostgreSQL
ran it with, foreign-key checks and trigger queries included, at a given number of existing
snapshots (issue 24, item 1).

For each size: a scratch database (`viewledger_bench_plans`) migrated and seeded as the
refresh benchmark's pipeline seeds it (`--posts` posts, all due), VACUUM ANALYZEd while
stats_snapshots is empty, then grown to N snapshots (with their raw answers; spread over the
posts and over the last 30 days) and *not* analyzed again: the statistics a server without
autovacuum keeps. The engine then refreshes
the posts exactly as `bench.refresh`'s pipeline does (its child process, the worker's
connection settings), with auto_explain logging each statement's plan (nested statements:
the foreign-key checks) to the server log, which this reads back (the server must log to
a file it can read: `--log`, Debian's by default).

    .venv/bin/python -m bench.write_plans                       # 1,000 and 1,000,000 snapshots
    .venv/bin/python -m bench.write_plans --snapshots 1000 --posts 500

Prints, per size and per distinct statement: how often it ran, its total and mean time as
auto_explain measured it (plans with actual rows, no per-node timing), and its last plan.
Also the raw answers' share of the write: the time of the raw_answers statements (and the
foreign-key checks they fire) over the time of every write statement. The last line is JSON.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from app.domain.enums import Platform
from bench import common, refresh_seed
from bench.refresh import pipeline_slots, split_pipeline

DATABASE = "viewledger_bench_plans"
DEFAULT_LOG = "/var/log/postgresql/postgresql-15-main.log"
# An entry of the server log starts with the prefix (Debian's '%m [%p] %q%u@%d ').
_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+ \[\d+\] (\S+)@(\S+) (\w+):\s+(.*)$")
_DURATION = re.compile(r"duration: ([\d.]+) ms\s+plan:")

_GROW = """
INSERT INTO stats_snapshots (post_id, campaign_id, captured_at, views, likes, comments,
                             source, applied)
SELECT p.id, p.campaign_id, now() - (g % 43200) * interval '1 minute', g, 0, 0,
       CASE WHEN p.platform = 'tiktok' THEN 'primary' ELSE 'instagram' END, true
FROM generate_series(1, $1::int) AS g
JOIN (SELECT id, campaign_id, platform, row_number() OVER (ORDER BY id) - 1 AS n FROM posts) p
  ON p.n = g % $2::int
"""
_GROW_RAW = """
INSERT INTO raw_answers (snapshot_id, captured_at, body, size)
SELECT id, captured_at, '\\x789c030000000001'::bytea, 0 FROM stats_snapshots
"""

AUTO_EXPLAIN = {
    "session_preload_libraries": "auto_explain",
    "auto_explain.log_min_duration": "0",
    "auto_explain.log_nested_statements": "on",
    "auto_explain.log_analyze": "on",
    "auto_explain.log_timing": "off",
    "auto_explain.log_triggers": "on",
}


def _entries(text: str, database: str) -> list[tuple[float, str, str]]:
    """(duration ms, query text, plan) of every auto_explain entry of `database`."""
    out: list[tuple[float, str, str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m:
            if current:
                out.extend(_parse(current))
            current = [m.group(4)] if m.group(2) == database and m.group(3) == "LOG" else None
        elif current is not None:
            current.append(line)
    if current:
        out.extend(_parse(current))
    return out


def _parse(lines: list[str]) -> list[tuple[float, str, str]]:
    m = _DURATION.search(lines[0])
    if not m:
        return []
    body = [line.strip("\t") for line in lines[1:]]
    query: list[str] = []
    plan: list[str] = []
    for line in body:
        if line.startswith("Query Text:"):
            query.append(line.removeprefix("Query Text:").strip())
        elif plan or "(cost=" in line or line.startswith("Trigger "):
            plan.append(line)
        else:
            query.append(line.strip())
    return [(float(m.group(1)), " ".join(" ".join(query).split()), "\n".join(plan))]


def _read_from(log: Path, offset: int) -> str:
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def _label(query: str) -> str:
    return query[:90]


def _is_raw(query: str) -> bool:
    return "raw_answers" in query or '"stats_snapshots" x WHERE "id"' in query


async def prepare(url: str, posts: int, snapshots: int) -> None:
    await common.recreate_database(url)
    await common.migrate(url)
    n_tt, n_ig = split_pipeline(posts, 0.5)
    dsn = common.asyncpg_dsn(url)
    await refresh_seed.seed(
        dsn, pipeline_slots(), {Platform.TIKTOK: n_tt, Platform.INSTAGRAM: n_ig}, datetime.now(UTC)
    )  # ends with VACUUM ANALYZE: stats_snapshots is empty then
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(_GROW, snapshots, posts)
        await conn.execute(_GROW_RAW)
        name = url.rsplit("/", 1)[1]
        for setting, value in AUTO_EXPLAIN.items():
            await conn.execute(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'")
    finally:
        await conn.close()


async def one_size(args: argparse.Namespace, snapshots: int) -> dict[str, Any]:
    url = common.database_url(DATABASE)
    name = url.rsplit("/", 1)[1]
    print(f"\n== {snapshots:,} existing snapshots, {args.posts:,} posts refreshed", flush=True)
    await prepare(url, args.posts, snapshots)
    log = Path(args.log)
    start = await asyncio.to_thread(lambda: log.stat().st_size)
    done = await asyncio.to_thread(
        subprocess.run,
        [common.python(), "-m", "bench.refresh", "--child-pipeline", url],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pipeline failed: {done.stderr[-2000:]}")
    text = await asyncio.to_thread(_read_from, log, start)
    stats: dict[str, dict[str, Any]] = {}
    for ms, query, plan in _entries(text, name):
        s = stats.setdefault(_label(query), {"calls": 0, "total_ms": 0.0, "raw": _is_raw(query)})
        s["calls"] += 1
        s["total_ms"] += ms
        s["plan"] = plan
    write = {k: v for k, v in stats.items() if not k.startswith(("SELECT", "WITH urgent"))}
    raw_ms = sum(v["total_ms"] for v in write.values() if v["raw"])
    # Nested statements (the foreign-key checks) are inside their statement's time already.
    top_ms = sum(v["total_ms"] for k, v in write.items() if "x WHERE" not in k)
    for label, s in sorted(stats.items(), key=lambda kv: -kv[1]["total_ms"]):
        print(
            f"\n-- {label}\n   calls {s['calls']}, total {s['total_ms']:.1f} ms, "
            f"mean {s['total_ms'] / s['calls']:.3f} ms"
        )
        print("   " + s["plan"].replace("\n", "\n   "))
    share = raw_ms / top_ms if top_ms else None
    print(f"\nraw answers' share of the write statements' time: {share and round(share, 3)}")
    return {
        "snapshots": snapshots,
        "posts": args.posts,
        "raw_answers_share": share and round(share, 3),
        "statements": {
            k: {"calls": v["calls"], "total_ms": round(v["total_ms"], 1)} for k, v in stats.items()
        },
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if not os.access(args.log, os.R_OK):
        raise SystemExit(f"cannot read the server log {args.log} (--log)")
    sizes = [int(s) for s in args.snapshots.split(",") if s]
    return {
        "sizes": [await one_size(args, n) for n in sizes],
        "machine": common.machine(),
        "git": common.git_head(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.write_plans", description=__doc__)
    parser.add_argument("--snapshots", default="1000,1000000")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--log", default=DEFAULT_LOG)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    common.last_line(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
