"""Refresh runs, analytics and lifecycle races, through an app whose requests really commit
(the engine and concurrent requests each need their own connections)."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform, Role
from app.main import create_app
from app.models import Post, PostEvent, RefreshRun, WebhookEvent
from app.platforms.registry import build_clients
from app.platforms.sandbox import Sandbox
from app.repositories import api_keys
from app.settings import Settings
from app.webhooks import repository, vault
from app.workers import claims, lifecycle_sweep
from app.workers.heartbeat import HEARTBEATS
from app.workers.refresher import Refresher, claim_size
from tests.engine_kit import Clock, Seeded, find_video, seed

SM = async_sessionmaker[AsyncSession]


ClientFor = Callable[[Seeded], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def api(settings: Settings, engine: AsyncEngine, committed: SM) -> AsyncIterator[ClientFor]:
    """An admin client of a seeded organization, on an app with its own connections."""
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):

        async def client_for(seeded: Seeded) -> httpx.AsyncClient:
            async with committed() as session:
                _, key = await api_keys.create(session, seeded.organization_id, Role.ADMIN)
                await session.commit()
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test",
                headers={"Authorization": f"Bearer {key}"},
            )

        yield client_for


async def test_an_on_demand_run_reports_progress_per_provider(
    committed: SM,
    api: ClientFor,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    ids: list[str] = []
    for _ in range(3):
        ids.append(
            find_video(
                Platform.TIKTOK,
                sandbox.anchor,
                lambda v: clock.now - v.created_at < timedelta(days=5),
                skip=ids,
            )
        )
    s = await seed(
        committed,
        [(Platform.TIKTOK, v) for v in ids] + [(Platform.INSTAGRAM, "DELETED_1")],
        clock.now,
    )
    async with await api(s) as client:
        created = await client.post("/v1/refresh-runs", json={"campaign_id": str(s.campaign_id)})
        assert created.status_code == 202, created.text
        run = created.json()
        assert (run["kind"], run["status"], run["queued"]) == ("on_demand", "queued", 4)
        await make_refresher().refresh_due(Platform.TIKTOK)
        await make_refresher().refresh_due(Platform.INSTAGRAM)
        done = (await client.get(f"/v1/refresh-runs/{run['id']}")).json()
        assert (done["status"], done["refreshed"], done["failed"], done["skipped"]) == (
            "finished",
            3,
            1,
            0,
        )
        assert done["by_source"]["primary"]["refreshed"] == 3
        assert done["by_source"]["instagram"]["failed"] == 1
        assert done["started_at"] is not None
        assert done["finished_at"] is not None
        # Every post was just fetched (the failed one too): within the minimum interval a
        # run fetches none of them again, and says so.
        idle = (await client.post("/v1/refresh-runs")).json()
        assert (idle["queued"], idle["skipped_recent"], idle["status"]) == (0, 4, "finished")
        assert idle["created_at"] <= idle["started_at"] <= idle["finished_at"]
        listed = (await client.get("/v1/refresh-runs")).json()["data"]
        assert [r["id"] for r in listed] == [idle["id"], run["id"]]
        missing = await client.post(
            "/v1/refresh-runs", json={"campaign_id": "00000000-0000-0000-0000-000000000000"}
        )
        assert (missing.status_code, missing.json()["code"]) == (422, "campaign_not_found")


async def test_scheduled_sweeps_appear_as_runs(
    committed: SM,
    api: ClientFor,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
) -> None:
    s = await seed(committed, [(Platform.TIKTOK, "4242")], clock.now)
    await make_refresher().refresh_due(Platform.TIKTOK)
    async with await api(s) as client:
        runs = (await client.get("/v1/refresh-runs")).json()["data"]
    assert [(r["kind"], r["status"], r["queued"], r["refreshed"]) for r in runs] == [
        ("scheduled", "finished", 1, 1)
    ]


async def test_a_sweep_of_many_claims_counts_every_post_once_in_its_run(
    committed: SM, api: ClientFor, fast: Settings, http: httpx.AsyncClient, clock: Clock
) -> None:
    s = await seed(committed, [(Platform.TIKTOK, str(8100 + i)) for i in range(5)], clock.now)
    small = fast.model_copy(update={"write_batch_max": 2})  # claims of two: three claims
    assert claim_size(small, Platform.TIKTOK) == 2
    engine = Refresher(committed, build_clients(small, http), small, clock=clock)
    assert await engine.refresh_due(Platform.TIKTOK) == Counter(refreshed=5)
    async with await api(s) as client:
        runs = (await client.get("/v1/refresh-runs")).json()["data"]
    assert [(r["kind"], r["status"], r["queued"], r["refreshed"]) for r in runs] == [
        ("scheduled", "finished", 5, 5)
    ]


async def test_analytics_follow_the_snapshots(
    committed: SM,
    api: ClientFor,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    clock.advance(hours=-8)  # both fetches in the past, so both days are in the window
    vid = find_video(
        Platform.TIKTOK,
        sandbox.anchor,
        lambda v: (
            timedelta(days=1) < clock.now - v.created_at < timedelta(days=3)
            and v.counts_at(clock.now).views < v.counts_at(clock.now + timedelta(days=1)).views
        ),
    )
    s = await seed(committed, [(Platform.TIKTOK, vid)], clock.now)
    await make_refresher().refresh_due(Platform.TIKTOK)
    first = sandbox.video(Platform.TIKTOK, vid).counts_at(clock.now).views
    first_day = clock.now.date()
    clock.advance(hours=7)
    await make_refresher().refresh_due(Platform.TIKTOK)
    second = sandbox.video(Platform.TIKTOK, vid).counts_at(clock.now).views
    post_id = s.posts[vid]
    async with await api(s) as client:
        hourly = (
            await client.get(
                f"/v1/posts/{post_id}/stats",
                params={
                    "bucket": "hour",
                    "from": (clock.now - timedelta(days=1)).isoformat(),
                    "to": (clock.now + timedelta(hours=1)).isoformat(),
                },
            )
        ).json()
        assert [p["views"] for p in hourly["data"]] == [first, second]
        bad = await client.get(
            f"/v1/posts/{post_id}/stats",
            params={"from": clock.now.isoformat(), "to": clock.now.isoformat()},
        )
        assert bad.status_code == 422
        report = (await client.get(f"/v1/campaigns/{s.campaign_id}/analytics")).json()
    assert report["totals"]["views"] == second
    assert report["posts_by_status"] == {
        "tracking": 1,
        "held": 0,
        "pending_cpm": 0,
        "finalized": 0,
        "paid": 0,
        "rejected": 0,
    }
    daily = report["daily_views"]
    assert len(daily) == 30  # every day of the default window, days without gains included
    assert daily[-1]["day"] == datetime.now(UTC).date().isoformat()
    # The first fetch's count is where the post stood when added: a baseline, not growth.
    assert sum(d["baseline_views"] for d in daily) == first
    assert sum(d["views_gained"] for d in daily) == second - first
    assert daily[-1]["total_views"] == second
    baseline_on = {d["day"]: d["baseline_views"] for d in daily if d["baseline_views"]}
    assert baseline_on == {first_day.isoformat(): first}
    gained_on = {d["day"]: d["views_gained"] for d in daily if d["views_gained"]}
    assert gained_on == {clock.now.date().isoformat(): second - first}
    assert report["top_posts"][0]["id"] == str(post_id)
    assert report["creators"][0]["views"] == second
    # Projected: a tracking post at or above the minimum views, at its tier (4.50), half-up.
    projected = Decimal(second) * Decimal("4.5") / 1000 if second >= 1000 else Decimal(0)
    assert report["earnings"]["projected"] == str(
        projected.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )


async def test_tier_assignments_racing_a_sweep_finalize_each_post_exactly_once(
    committed: SM,
    api: ClientFor,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
) -> None:
    videos = [(Platform.TIKTOK, str(5000 + i)) for i in range(10)]
    s = await seed(committed, videos, clock.now, cpm=None)
    async with committed() as session:
        await session.execute(
            update(Post).values(
                published_at=clock.now - timedelta(days=8), views=5000, last_refreshed_at=clock.now
            )
        )
        await session.commit()
    engine = make_refresher()
    async with await api(s) as client:
        tier = (
            await client.post(
                f"/v1/campaigns/{s.campaign_id}/cpm-tiers", json={"name": "Late", "cpm": "2"}
            )
        ).json()

        async def sweep() -> None:
            async with committed() as session:
                await lifecycle_sweep.sweep(session, clock.now, engine.policy, timedelta(hours=24))
                await session.commit()

        async def assign(post_id: object) -> int:
            response = await client.patch(f"/v1/posts/{post_id}", json={"cpm_tier_id": tier["id"]})
            return response.status_code

        codes = await asyncio.gather(
            sweep(), sweep(), *(assign(pid) for pid in s.posts.values() for _ in range(5))
        )
        # Whichever came first, a second sweep settles anything left waiting.
        await sweep()
    assert all(code in (200, 409) for code in codes[2:])
    async with committed() as session:
        posts = (await session.scalars(select(Post))).all()
        events = (await session.execute(select(PostEvent.post_id, PostEvent.to_status))).all()
    assert {(p.status, p.locked_views, str(p.earnings)) for p in posts} == {
        ("finalized", 5000, "10.00")
    }
    finalized = Counter(e.post_id for e in events if e.to_status == "finalized")
    assert finalized == Counter(s.posts.values())  # once each, never twice


async def test_readiness_reports_the_worker_heartbeat(
    client: httpx.AsyncClient, redis: Redis, settings: Settings
) -> None:
    silent = (await client.get("/health/ready")).json()
    assert silent["status"] == "warn"
    assert silent["checks"]["worker:heartbeat"][0]["status"] == "warn"
    await redis.zadd(HEARTBEATS, {"test-worker": time.time()})
    beating = (await client.get("/health/ready")).json()
    # Overall pass unless the database runs without autovacuum (its own warning).
    autovacuum = beating["checks"]["postgresql:autovacuum"][0]["status"]
    assert beating["status"] == autovacuum
    assert beating["checks"]["worker:heartbeat"][0]["status"] == "pass"
    await redis.zadd(HEARTBEATS, {"test-worker": time.time() - 10 * settings.heartbeat_seconds})
    stale = await client.get("/health/ready")
    assert (stale.status_code, stale.json()["status"]) == (200, "warn")


async def test_a_post_waits_for_one_run_at_a_time_and_every_run_finishes(
    committed: SM, api: ClientFor, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    s = await seed(committed, [(Platform.TIKTOK, str(8000 + i)) for i in range(3)], clock.now)
    async with await api(s) as client:
        first = (await client.post("/v1/refresh-runs")).json()
        second = (await client.post("/v1/refresh-runs")).json()
        assert (first["queued"], second["queued"]) == (3, 0)
        # A manual rejection takes its post out of the run; the run still finishes.
        rejected = next(iter(s.posts.values()))
        assert (
            await client.post(f"/v1/posts/{rejected}/reject", json={"reason": "x"})
        ).status_code == 200
        await make_refresher().refresh_due(Platform.TIKTOK)
        done = (await client.get(f"/v1/refresh-runs/{first['id']}")).json()
        assert (done["status"], done["refreshed"]) == ("finished", 2)
        # A sweep after the hour's scheduled run finished starts a run of its own: a
        # finished run never reopens.
        async with committed() as session:
            await session.execute(update(Post).values(next_refresh_at=clock.now))
            await session.commit()
        await make_refresher().refresh_due(Platform.TIKTOK)
        await _make_due_and_refresh(committed, make_refresher, clock)
        scheduled = (await client.get("/v1/refresh-runs", params={"kind": "scheduled"})).json()[
            "data"
        ]
    assert [(r["queued"], r["refreshed"], r["status"]) for r in scheduled] == [
        (2, 2, "finished"),
        (2, 2, "finished"),
    ]


async def test_a_finished_scheduled_run_never_reopens_and_is_announced_once(
    committed: SM,
    api: ClientFor,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    settings: Settings,
) -> None:
    """Issue 22 item 12: a second sweep within the same hour used to reopen the hour's
    finished run (finished_at = NULL) and finish it again: two refresh_run.finished
    webhooks, with two webhook-ids, for one run id."""
    clock.now = clock.now.replace(minute=10, second=0)  # both sweeps within one hour
    s = await seed(committed, [(Platform.TIKTOK, str(8000 + i)) for i in range(2)], clock.now)
    async with committed() as session:
        await repository.create_endpoint(
            session,
            s.organization_id,
            {"url": "https://hooks.example.com/in", "event_types": ["refresh_run.finished"]},
            vault.encrypt(settings, "whsec_" + "A" * 32),
        )
        await session.commit()
    await make_refresher().refresh_due(Platform.TIKTOK)
    clock.advance(minutes=1)
    await _make_due_and_refresh(committed, make_refresher, clock)
    async with committed() as session:
        payloads = (
            await session.scalars(
                select(WebhookEvent.payload).where(
                    WebhookEvent.organization_id == s.organization_id,
                    WebhookEvent.type == "refresh_run.finished",
                )
            )
        ).all()
    announced = Counter(p["data"]["id"] for p in payloads)
    async with await api(s) as client:
        scheduled = (await client.get("/v1/refresh-runs", params={"kind": "scheduled"})).json()[
            "data"
        ]
    assert [(r["queued"], r["refreshed"], r["status"]) for r in scheduled] == [
        (2, 2, "finished"),
        (2, 2, "finished"),
    ]
    assert announced == Counter({r["id"]: 1 for r in scheduled})
    for run in scheduled:
        assert run["created_at"] <= run["started_at"] <= run["finished_at"]


async def test_a_late_result_for_a_finished_run_neither_reopens_nor_announces_it_again(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock, settings: Settings
) -> None:
    """The races a finished run can still meet: a claim handed the run's id after it
    finished (a sweep's run finishing between two of its claims), and a post joined to it
    just as it finished, whose result is counted afterwards."""
    s = await seed(committed, [(Platform.TIKTOK, str(8000 + i)) for i in range(2)], clock.now)
    async with committed() as session:
        await repository.create_endpoint(
            session,
            s.organization_id,
            {"url": "https://hooks.example.com/in", "event_types": ["refresh_run.finished"]},
            vault.encrypt(settings, "whsec_" + "A" * 32),
        )
        await session.commit()
    await make_refresher().refresh_due(Platform.TIKTOK)
    first, second = s.posts["8000"], s.posts["8001"]
    async with committed() as session:
        run = await session.scalar(select(RefreshRun).where(RefreshRun.kind == "scheduled"))
        assert run is not None
        assert run.finished_at is not None
        run_id, finished_at = run.id, run.finished_at
        # A claim that names the finished run for the organization leaves the post runless
        # (run_progress.attach then starts a new run) and the run as it was.
        await session.execute(
            update(Post).where(Post.id == second).values(next_refresh_at=clock.now)
        )
        await session.flush()
        refresher = make_refresher()
        (due,) = await claims.claim(
            session,
            Platform.TIKTOK,
            now=clock.now,
            limit=10,
            lease=timedelta(minutes=5),
            policy=refresher.policy,
            runs={s.organization_id: run_id},
        )
        assert due.refresh_run_id is None
        await session.refresh(run)
        assert (run.queued, run.finished_at) == (2, finished_at)
        await session.rollback()
        # A post that joined the run as it finished: its result counts, nothing reopens.
        await session.execute(
            update(Post)
            .where(Post.id == first)
            .values(refresh_run_id=run_id, next_refresh_at=clock.now)
        )
        await session.commit()
    clock.advance(minutes=1)
    await make_refresher().refresh_due(Platform.TIKTOK)
    async with committed() as session:
        late = await session.get(RefreshRun, run_id)
        assert late is not None
        assert (late.done, late.finished_at) == (3, finished_at)
        announced = (
            await session.scalars(
                select(WebhookEvent.payload).where(WebhookEvent.type == "refresh_run.finished")
            )
        ).all()
    assert Counter(p["data"]["id"] for p in announced)[str(run_id)] == 1


async def _make_due_and_refresh(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    async with committed() as session:
        await session.execute(
            update(Post).where(Post.status != "rejected").values(next_refresh_at=clock.now)
        )
        await session.commit()
    await make_refresher().refresh_due(Platform.TIKTOK)
