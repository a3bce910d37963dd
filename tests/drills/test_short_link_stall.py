"""Drill 11: bulk imports whose short links hang stall no other tenant. Organization A pastes
22 imports of 20 short links each (more imports than the worker has job slots), and five
single posts, whose links hang at the platform (a local host that holds them open), into a
worker and an API under uvicorn. Meanwhile
organization B, on the same processes: its short link in the API answers 201 at once, its
bulk import of a short link finishes within seconds, its refresh run starts within seconds,
and no database connection is idle in a transaction for as long as a second. Once the host
answers, every one of A's lines is handled, exactly once, across chunks that outlived the
imports' leases (renewed while the links hung)."""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.platforms.sandbox.videos import short_link_tiktok_id
from app.repositories import api_keys
from app.settings import Settings
from tests.processes import api_server, sandbox_server, start_worker, stop, worker_env
from tests.short_link_host import ShortLinkHost

SM = async_sessionmaker[AsyncSession]
IMPORTS, LINKS = 22, 20


async def until(check: Callable[[], Awaitable[Any]], within: float, what: str) -> Any:
    """Polls `check` every 0.1 s until it returns something truthy, which it returns."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within} s: {what}")


class IdleInTransaction:
    """Samples pg_stat_activity every 50 ms: the longest any connection of this database
    has been seen idle in a transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            while True:
                age = await conn.scalar(
                    text(
                        "SELECT coalesce(max(extract(epoch FROM clock_timestamp() - state_change)),"
                        " 0) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%'"
                    )
                )
                self.longest = max(self.longest, float(age))
                await asyncio.sleep(0.05)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_drill_11_hanging_short_links_in_bulk_stall_no_other_tenant(
    settings: Settings, engine: AsyncEngine, committed: SM
) -> None:
    with sandbox_server() as sandbox:
        async with ShortLinkHost() as host:
            env = worker_env(
                settings,
                sandbox,
                sandbox_port=host.port,  # sandbox mode: short links go to this host
                shortlink_budget_seconds=60,  # A's links hang for the whole drill
                shortlink_concurrency=4,
                post_import_chunk_size=10,
                post_import_lease_seconds=3,
                forced_refresh_min_interval_minutes=0,
            )
            async with committed() as session:  # in-process: the CLI would cost seconds
                _, key_a = await api_keys.create_organization(session, "Bulk paster")
                _, key_b = await api_keys.create_organization(session, "Other tenant")
                await session.commit()
            worker = start_worker(env)
            watch = IdleInTransaction(engine)
            try:
                with api_server(env) as api:
                    async with (
                        httpx.AsyncClient(
                            base_url=api, headers={"Authorization": f"Bearer {key_a}"}, timeout=90
                        ) as a,
                        httpx.AsyncClient(
                            base_url=api, headers={"Authorization": f"Bearer {key_b}"}, timeout=30
                        ) as b,
                    ):
                        await _drill(a, b, host, watch)
            finally:
                await watch.stop()
                stop(worker)
            assert watch.longest < 1.0, f"idle in transaction for {watch.longest:.2f} s"


async def _setup(client: httpx.AsyncClient, handle: str) -> tuple[str, str]:
    campaign = (await client.post("/v1/campaigns", json={"name": "Launch"})).json()
    creator = (
        await client.post("/v1/creators", json={"platform": "tiktok", "handle": handle})
    ).json()
    joined = await client.post(
        f"/v1/campaigns/{campaign['id']}/members", json={"creator_id": creator["id"]}
    )
    assert joined.status_code == 201, joined.text
    return campaign["id"], creator["id"]


async def _drill(
    a: httpx.AsyncClient, b: httpx.AsyncClient, host: ShortLinkHost, watch: IdleInTransaction
) -> None:
    campaign_a, alice = await _setup(a, "alice")
    campaign_b, _ = await _setup(b, "sandbox_user")
    for code in ("BOBAPI", "BOBBULK"):
        host.redirects[code] = (
            f"https://www.tiktok.com/@sandbox_user/video/{short_link_tiktok_id(code)}"
        )
    watch.start()

    imports = []
    for i in range(IMPORTS):
        lines = [
            {"url": f"https://vm.tiktok.com/HANG{i:02d}x{n:02d}/", "creator_id": alice}
            for n in range(LINKS)
        ]
        made = await a.post(f"/v1/campaigns/{campaign_a}/posts/bulk", json={"lines": lines})
        assert made.status_code == 202, made.text
        imports.append(made.json()["id"])
    posting = [
        asyncio.create_task(
            a.post(
                f"/v1/campaigns/{campaign_a}/posts",
                json={"url": f"https://vm.tiktok.com/HANGAPI{i}/", "creator_id": alice},
            )
        )
        for i in range(5)
    ]
    # The worker's resolver and the API's each hold 3 of A's links (of 4 slots).
    await until(lambda: _true(host.hanging >= 6), 30, "A's links hanging at the host")

    # B, in the API: its link takes the slot kept for another organization.
    started = time.monotonic()
    made = await b.post(
        f"/v1/campaigns/{campaign_b}/posts", json={"url": "https://vm.tiktok.com/BOBAPI/"}
    )
    assert made.status_code == 201, made.text
    assert time.monotonic() - started < 5.0

    # B, in the worker: a bulk import of a short link, handled beside A's twelve.
    started = time.monotonic()
    queued = await b.post(
        f"/v1/campaigns/{campaign_b}/posts/bulk",
        json={"lines": [{"url": "https://vm.tiktok.com/BOBBULK/"}]},
    )
    assert queued.status_code == 202, queued.text

    async def b_import_finished() -> dict[str, Any] | None:
        got = (await b.get(f"/v1/post-imports/{queued.json()['id']}")).json()
        return got if got["status"] == "finished" else None

    done = await until(b_import_finished, 10, "B's import finished")
    assert [ln["outcome"] for ln in done["lines"]] == ["added"]
    assert time.monotonic() - started < 10.0

    # B's refresh run starts within seconds (on main: minutes, behind a drained pool).
    started = time.monotonic()
    run = await b.post("/v1/refresh-runs", json={})
    assert run.status_code == 202, run.text

    async def b_run_started() -> dict[str, Any] | None:
        got = (await b.get(f"/v1/refresh-runs/{run.json()['id']}")).json()
        return got if got["started_at"] is not None else None

    await until(b_run_started, 10, "B's refresh run started")
    assert time.monotonic() - started < 10.0
    assert host.hanging >= 6  # A's links were hanging all along

    # The host answers: every line of A's is handled once, through chunks (10 lines each)
    # that outlived the 3 s lease while their links hung.
    host.release()

    async def a_imports_finished() -> list[dict[str, Any]] | None:
        got = [(await a.get(f"/v1/post-imports/{i}")).json() for i in imports]
        return got if all(g["status"] == "finished" for g in got) else None

    for got in await until(a_imports_finished, 30, "A's imports finished"):
        assert (got["done"], got["counts"]) == (LINKS, {"short_link_unavailable": LINKS})
    answers = await asyncio.gather(*posting)
    assert {r.json()["code"] for r in answers} == {"short_link_unavailable"}


async def _true(value: bool) -> bool:
    return value
