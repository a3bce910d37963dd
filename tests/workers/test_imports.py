"""Bulk paste (issue 15): 202 with the import, each line's outcome through the posts
service, independent lines, idempotent uploads, and an import left by a killed worker
taken up by the sweep."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import PostImport
from app.platforms.sandbox import Sandbox
from app.platforms.sandbox import create_app as create_sandbox
from app.platforms.sandbox.magic import published_id
from app.platforms.sandbox.videos import video_at
from app.platforms.shortlinks import Resolver, resolver_for
from app.repositories import post_imports as repo
from app.services import post_imports
from app.settings import Settings
from app.workers import worker
from tests import factories as f
from tests.conftest import committed_admin
from tests.discord_kit import run_jobs
from tests.short_link_host import ShortLinkHost, eventually

SM = async_sessionmaker[AsyncSession]
V = [published_id(Platform.TIKTOK, 24, n) for n in range(10)]


@pytest.fixture
async def intake(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    app = create_sandbox(sandbox)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        yield client


@pytest.fixture
def import_settings(fast: Settings) -> Settings:
    return fast.model_copy(update={"post_import_chunk_size": 2})


@pytest.fixture
async def admin(
    import_settings: Settings, engine: AsyncEngine, committed: SM, intake: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with committed_admin(import_settings, engine, committed, "Paste", intake) as client:
        yield client


@pytest.fixture
def resolver(intake: httpx.AsyncClient, import_settings: Settings) -> Resolver:
    return resolver_for(intake, import_settings)


@pytest.fixture
def ctx(
    committed: SM, intake: httpx.AsyncClient, import_settings: Settings, resolver: Resolver
) -> dict[str, Any]:
    return {
        "sessionmaker": committed,
        "intake_http": intake,
        "settings": import_settings,
        "shortlinks": resolver,
        "imports": {},
    }


async def _imports_done(ctx: dict[str, Any]) -> None:
    """The job only starts an import (in a task of the worker's, off the job slots)."""
    await asyncio.gather(*ctx["imports"].values())


def _url(handle: str, video: str) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{video}"


async def _member(admin: httpx.AsyncClient, campaign_id: str, handle: str, platform: str) -> str:
    made = await f.ok(
        await admin.post("/v1/creators", json={"platform": platform, "handle": handle}), 201
    )
    await f.member(admin, campaign_id, made["id"])
    return str(made["id"])


async def test_each_line_gets_its_outcome_and_one_bad_line_stops_nothing(
    admin: httpx.AsyncClient,
    ctx: dict[str, Any],
    import_settings: Settings,
    sandbox: Sandbox,
    redis: Redis,
) -> None:
    campaign = await f.campaign(admin, name="Paste")
    handle = video_at(Platform.TIKTOK, V[0], sandbox.anchor, sandbox.now()).handle
    await _member(admin, campaign["id"], handle, "tiktok")
    insta = await _member(admin, campaign["id"], "natgeo", "instagram")
    lines = [
        {"url": _url(handle, V[0])},  # added
        {"url": "not a url"},  # invalid_url
        {"url": _url(handle, V[0])},  # already_tracked (by line 1)
        {"url": _url("stranger", V[1])},  # not_member (no such creator here)
        {"url": _url("someone_else", V[2]), "creator_id": insta},  # platform_mismatch
        {"url": "https://www.instagram.com/reel/Cx000000001/", "creator_id": insta},  # added
        {"url": "https://www.instagram.com/reel/Cx000000002/"},  # creator_required
    ]
    posted = await admin.post(f"/v1/campaigns/{campaign['id']}/posts/bulk", json={"lines": lines})
    assert posted.status_code == 202, posted.text
    queued = posted.json()
    assert posted.headers["Location"] == f"/v1/post-imports/{queued['id']}"
    assert (queued["status"], queued["total"], queued["done"]) == ("queued", 7, 0)
    assert [ln["outcome"] for ln in queued["lines"]] == [None] * 7

    await run_jobs(import_settings.redis_url, ctx, [worker.process_post_import])
    await _imports_done(ctx)

    done = await f.ok(await admin.get(f"/v1/post-imports/{queued['id']}"))
    assert (done["status"], done["done"]) == ("finished", 7)
    assert [ln["outcome"] for ln in done["lines"]] == [
        "added",
        "invalid_url",
        "already_tracked",
        "not_member",
        "platform_mismatch",
        "added",
        "creator_required",
    ]
    assert done["counts"] == {
        "added": 2,
        "invalid_url": 1,
        "already_tracked": 1,
        "not_member": 1,
        "platform_mismatch": 1,
        "creator_required": 1,
    }
    first = done["lines"][0]
    assert done["lines"][2]["post_id"] == first["post_id"]
    assert all(ln["detail"] for ln in done["lines"] if ln["outcome"] != "added")
    posts = (await f.ok(await admin.get(f"/v1/campaigns/{campaign['id']}/posts")))["data"]
    assert {p["id"] for p in posts} == {done["lines"][0]["post_id"], done["lines"][5]["post_id"]}


async def test_author_mismatch_and_an_ended_campaign_are_line_outcomes(
    admin: httpx.AsyncClient, ctx: dict[str, Any], import_settings: Settings, redis: Redis
) -> None:
    campaign = await f.campaign(admin, name="Paste")
    alice = await _member(admin, campaign["id"], "alice", "tiktok")
    await f.creator(admin, "bob", "tiktok")  # the URL names another creator of the organization
    lines = [{"url": _url("bob", V[3]), "creator_id": alice}]
    mismatch = await f.ok(
        await admin.post(f"/v1/campaigns/{campaign['id']}/posts/bulk", json={"lines": lines}), 202
    )
    ended = await f.campaign(admin, name="Over")
    await _member(admin, ended["id"], "carol", "tiktok")
    late = await f.ok(
        await admin.post(
            f"/v1/campaigns/{ended['id']}/posts/bulk",
            json={"lines": [{"url": _url("carol", V[4])}]},
        ),
        202,
    )
    # The campaign ends while its import waits for the worker.
    await f.ok(await admin.patch(f"/v1/campaigns/{ended['id']}", json={"status": "ended"}))
    await run_jobs(import_settings.redis_url, ctx, [worker.process_post_import])
    await _imports_done(ctx)
    for made, outcome in ((mismatch, "author_mismatch"), (late, "campaign_ended")):
        got = await f.ok(await admin.get(f"/v1/post-imports/{made['id']}"))
        assert [ln["outcome"] for ln in got["lines"]] == [outcome]


async def test_a_campaign_past_its_end_date_takes_no_import_and_no_waiting_line(
    admin: httpx.AsyncClient, ctx: dict[str, Any], import_settings: Settings, redis: Redis
) -> None:
    """Issue 22 item 13: past the end of `ends_on` (UTC), a bulk paste is refused whole, and
    lines already queued when the last day passes are refused one by one."""
    yesterday = str((datetime.now(UTC) - timedelta(days=1)).date())
    over = await f.campaign(admin, name="Over", ends_on=yesterday)
    await _member(admin, over["id"], "carol", "tiktok")
    refused = await admin.post(
        f"/v1/campaigns/{over['id']}/posts/bulk", json={"lines": [{"url": _url("carol", V[6])}]}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "campaign_ended")
    assert refused.headers["content-type"] == "application/problem+json"

    running = await f.campaign(admin, name="Running")
    await _member(admin, running["id"], "dave", "tiktok")
    queued = await f.ok(
        await admin.post(
            f"/v1/campaigns/{running['id']}/posts/bulk",
            json={"lines": [{"url": _url("dave", V[7])}]},
        ),
        202,
    )
    await f.ok(await admin.patch(f"/v1/campaigns/{running['id']}", json={"ends_on": yesterday}))
    await run_jobs(import_settings.redis_url, ctx, [worker.process_post_import])
    await _imports_done(ctx)  # the job only starts the import, in a task of the worker
    got = await f.ok(await admin.get(f"/v1/post-imports/{queued['id']}"))
    assert [ln["outcome"] for ln in got["lines"]] == ["campaign_ended"]
    assert (await f.ok(await admin.get(f"/v1/campaigns/{running['id']}/posts")))["data"] == []


async def test_a_retried_upload_with_its_idempotency_key_makes_one_import(
    admin: httpx.AsyncClient, committed: SM
) -> None:
    campaign = await f.campaign(admin)
    body = {"lines": [{"url": _url("alice", V[5])}]}
    path = f"/v1/campaigns/{campaign['id']}/posts/bulk"
    headers = {"Idempotency-Key": "paste-1"}
    first = await admin.post(path, json=body, headers=headers)
    again = await admin.post(path, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    async with committed() as session:
        assert await session.scalar(select(func.count()).select_from(PostImport)) == 1


async def test_bounds_and_unknowns(admin: httpx.AsyncClient) -> None:
    campaign = await f.campaign(admin)
    path = f"/v1/campaigns/{campaign['id']}/posts/bulk"
    assert (await admin.post(path, json={"lines": []})).status_code == 422
    many = {"lines": [{"url": _url("a", str(10_000 + n))} for n in range(1001)]}
    assert (await admin.post(path, json=many)).status_code == 422
    nowhere = await admin.post(
        f"/v1/campaigns/{uuid.uuid4()}/posts/bulk", json={"lines": [{"url": "x"}]}
    )
    assert (nowhere.status_code, nowhere.json()["code"]) == (404, "campaign_not_found")
    missing = await admin.get(f"/v1/post-imports/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["code"]) == (404, "post_import_not_found")


async def test_an_import_left_by_a_killed_worker_is_finished_by_the_sweep(
    admin: httpx.AsyncClient,
    committed: SM,
    ctx: dict[str, Any],
    import_settings: Settings,
) -> None:
    campaign = await f.campaign(admin)
    lines = {"lines": [{"url": f"bad {n}"} for n in range(5)]}
    made = await f.ok(
        await admin.post(f"/v1/campaigns/{campaign['id']}/posts/bulk", json=lines), 202
    )
    import_id = uuid.UUID(made["id"])
    now = datetime.now(UTC)
    lease = timedelta(seconds=import_settings.post_import_lease_seconds)
    async with committed() as session:  # a worker takes it...
        token = await repo.claim(session, import_id, now, lease)
        await session.commit()
    assert token is not None
    # ...while it holds the lease, nobody else does.
    assert await worker.sweep_post_imports(ctx) == 0
    async with committed() as session:  # ...and dies: its lease lapses
        await session.execute(
            update(PostImport).where(PostImport.id == import_id).values(lease_until=now)
        )
        await session.commit()
    assert await worker.sweep_post_imports(ctx) == 1
    await _imports_done(ctx)
    got = await f.ok(await admin.get(f"/v1/post-imports/{import_id}"))
    assert (got["status"], got["counts"]) == ("finished", {"invalid_url": 5})
    # The dead worker, back, writes nothing: its lease is not the import's any more.
    async with committed() as session:
        assert await repo.held(session, import_id, token) is None
    assert await worker.sweep_post_imports(ctx) == 0


async def _idle_in_transaction(engine: AsyncEngine) -> int:
    """Connections idle in a transaction for longer than a moment (a lease renewal between
    its UPDATE and its COMMIT is not what this looks for)."""
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%'"
                    " AND state_change < clock_timestamp() - interval '0.5 seconds'"
                )
            )
        )


async def test_a_chunks_links_are_followed_off_any_transaction_through_one_fair_resolver(
    admin: httpx.AsyncClient,
    committed: SM,
    engine: AsyncEngine,
    import_settings: Settings,
    intake: httpx.AsyncClient,
) -> None:
    """Issue 22, item 4: two imports of organization A whose short links hang. While they
    hang, no connection is idle in a transaction, the worker's one resolver holds at most
    SHORTLINK_CONCURRENCY links for both imports together (one slot kept for others), the
    imports' leases are renewed past their length, and organization B's import is handled
    at once. Once the host answers, A's lines end as `short_link_unavailable`."""
    settings = import_settings.model_copy(
        update={"post_import_chunk_size": 4, "post_import_lease_seconds": 1.5}
    )
    campaign = await f.campaign(admin, name="Paste")
    alice = await _member(admin, campaign["id"], "alice", "tiktok")
    made = [
        await f.ok(
            await admin.post(
                f"/v1/campaigns/{campaign['id']}/posts/bulk",
                json={
                    "lines": [
                        {"url": f"https://vm.tiktok.com/HANG{i}{n}/", "creator_id": alice}
                        for n in range(4)
                    ]
                },
            ),
            202,
        )
        for i in range(2)
    ]
    async with committed_admin(settings, engine, committed, "Other", intake) as other:
        theirs = await f.campaign(other, name="Theirs")
        await _member(other, theirs["id"], "bob", "tiktok")
        quick = await f.ok(
            await other.post(
                f"/v1/campaigns/{theirs['id']}/posts/bulk",
                json={"lines": [{"url": "https://vm.tiktok.com/BOB1/"}]},
            ),
            202,
        )
        async with ShortLinkHost() as host, httpx.AsyncClient(trust_env=False) as http:
            host.redirects["BOB1"] = "https://www.tiktok.com/@bob/video/7300000000000000003"
            resolver = Resolver(http, budget_seconds=10, max_hops=5, concurrency=3, via=host.url)
            hanging = [
                asyncio.create_task(
                    post_imports.process(committed, resolver, settings, uuid.UUID(m["id"]))
                )
                for m in made
            ]
            await eventually(lambda: host.hanging >= 2, what="A's links at the host")
            await asyncio.sleep(2.0)  # past the lease's length
            assert await _idle_in_transaction(engine) == 0
            assert (host.hanging, host.peak) == (2, 2)
            async with committed() as session:
                assert await repo.claimable(session, datetime.now(UTC), 10) == [
                    uuid.UUID(quick["id"])
                ]
            started = time.monotonic()
            assert (
                await post_imports.process(committed, resolver, settings, uuid.UUID(quick["id"]))
                == 1
            )
            assert time.monotonic() - started < 1.0
            got = await f.ok(await other.get(f"/v1/post-imports/{quick['id']}"))
            assert [ln["outcome"] for ln in got["lines"]] == ["added"]

            host.release()
            assert await asyncio.gather(*hanging) == [4, 4]
    for m in made:
        got = await f.ok(await admin.get(f"/v1/post-imports/{m['id']}"))
        assert (got["status"], got["done"]) == ("finished", 4)
        assert got["counts"] == {"short_link_unavailable": 4}
