"""Drill 13: the service behind PgBouncer in transaction pooling mode (DATABASE_POOLER=
pgbouncer), where each transaction may run on another server connection. The core flows run
through it end to end, the API under uvicorn and a worker process both connected through
PgBouncer with two server connections between them: create a campaign, its tier, creators
and posts; the worker refreshes them from the sandbox and decides the one past its deadline;
the decided post is paid in a payout batch. Concurrent requests share the server connections
all the while. README "Behind PgBouncer"."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Post
from app.platforms.sandbox.videos import start_of_day, synthetic_video
from app.settings import Settings
from tests import factories as f
from tests.drills.servers import pgbouncer
from tests.drills.test_drills import eventually
from tests.engine_kit import find_video
from tests.processes import api_server, cli, sandbox_server, start_worker, stop, worker_env

SM = async_sessionmaker[AsyncSession]


def _videos(now: datetime) -> tuple[str, str]:
    """A video three days old (tracked) and one twelve days old with 2,000 views or more
    (decided as soon as the worker has its stats)."""
    anchor = start_of_day(now)
    young = find_video(Platform.TIKTOK, anchor, lambda v: now - v.created_at < timedelta(days=3))
    old = find_video(
        Platform.TIKTOK,
        anchor,
        lambda v: (
            timedelta(days=12) < now - v.created_at < timedelta(days=20)
            and v.counts_at(now).views >= 2000
        ),
        skip=[young],
    )
    return young, old


async def _statuses(sm: SM) -> dict[str, str]:
    async with sm() as session:
        rows = (await session.execute(select(Post.platform_post_id, Post.status))).all()
    return {video: str(status) for video, status in rows}


async def test_drill_13_core_flows_through_pgbouncer_in_transaction_mode(
    committed: SM, settings: Settings
) -> None:
    now = datetime.now(UTC)
    young, old = _videos(now)
    anchor = start_of_day(now)
    with pgbouncer(settings.database_url, pool_size=2) as pooled, sandbox_server() as sandbox:
        env = worker_env(settings, sandbox, database_url=pooled, database_pooler="pgbouncer")
        key = cli(env, "orgs", "create", "Pooled")
        with api_server(env, start_timeout=180) as api:
            async with httpx.AsyncClient(
                base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as client:
                ready = await client.get("/health/ready")
                assert ready.status_code == 200, ready.text
                campaign = await f.campaign(client, name="Pooled")
                tier = await f.tier(client, campaign["id"], cpm="4.00")
                posts: dict[str, dict[str, Any]] = {}
                for video in (young, old):
                    handle = synthetic_video(Platform.TIKTOK, video, anchor).handle
                    creator = await f.creator(client, handle, "tiktok")
                    await f.member(client, campaign["id"], creator["id"], tier["id"])
                    url = f"https://www.tiktok.com/@{handle}/video/{video}"
                    posts[video] = await f.post(client, campaign["id"], url=url)
                # Many clients at once on two server connections: reads (outside
                # transactions) and writes interleave on the same server connections.
                answers = await asyncio.gather(
                    *(client.get("/v1/posts", params={"limit": 5}) for _ in range(20)),
                    *(f.creator(client, f"pooled{i}", "instagram") for i in range(10)),
                    *(client.get(f"/v1/campaigns/{campaign['id']}") for _ in range(20)),
                )
                assert all(a.status_code == 200 for a in answers if isinstance(a, httpx.Response))
                worker = start_worker(env)
                try:
                    await eventually(
                        lambda: _decided(committed, old),
                        90,
                        "the worker refreshed both posts and decided the old one",
                    )
                finally:
                    assert stop(worker) == 0
                refreshed = await f.ok(await client.get(f"/v1/posts/{posts[young]['id']}"))
                assert refreshed["status"] == "tracking"
                assert refreshed["last_refreshed_at"] is not None
                decided = await f.ok(await client.get(f"/v1/posts/{posts[old]['id']}"))
                assert decided["status"] == "finalized", decided
                payout = await f.ok(
                    await client.post("/v1/payouts", json={"post_ids": [decided["id"]]}), 201
                )
                paid = await f.ok(
                    await client.post(
                        f"/v1/payouts/{payout['id']}/mark-paid",
                        json={"payout_reference": "bank-2026-12"},
                    )
                )
                assert paid["status"] == "paid", paid
                final = await f.ok(await client.get(f"/v1/posts/{decided['id']}"))
                assert final["status"] == "paid"
                # The CSV export streams page by page through the pooler too.
                csv = await client.get("/v1/posts.csv")
                assert csv.status_code == 200
                assert young in csv.text
                assert old in csv.text


async def _decided(sm: SM, old: str) -> bool:
    statuses = await _statuses(sm)
    if statuses.get(old) != "finalized":
        return False
    async with sm() as session:
        unrefreshed = await session.scalar(
            select(Post.id).where(Post.last_refreshed_at.is_(None)).limit(1)
        )
    return unrefreshed is None
