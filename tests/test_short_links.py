"""Short links are followed off the database path: before the request takes a connection,
within one time budget, on default ports only; an upstream failure is the platform's (502,
retryable), a link that leads nowhere is the caller's (422), and neither echoes exceptions."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from app.main import create_app
from app.repositories import api_keys
from app.settings import Settings
from tests import factories as f

SM = async_sessionmaker[AsyncSession]


class Hanging(httpx.AsyncBaseTransport):
    """A short-link host that accepts and never answers, until released; then it fails the
    way a vanished host does."""

    def __init__(self, expected: int) -> None:
        self.waiting = 0
        self.expected = expected
        self.all_waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.waiting += 1
        if self.waiting == self.expected:
            self.all_waiting.set()
        await self.release.wait()
        raise httpx.ConnectError("[Errno -2] Name or service not known")


async def _client(app: object, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://test",
        headers={"Authorization": f"Bearer {key}"},
    )


@pytest.fixture
async def hanging_app(
    settings: Settings, engine: AsyncEngine, committed: SM
) -> AsyncIterator[tuple[object, Hanging]]:
    hanging = Hanging(expected=25)
    own = settings.model_copy(update={"shortlink_budget_seconds": 60, "shortlink_concurrency": 25})
    async with httpx.AsyncClient(transport=hanging) as http:
        app = create_app(own, engine=engine, http=http)
        async with app.router.lifespan_context(app):
            yield app, hanging
        hanging.release.set()


async def test_25_hanging_short_links_hold_no_database_connection(
    hanging_app: tuple[object, Hanging], engine: AsyncEngine, committed: SM
) -> None:
    app, hanging = hanging_app
    async with committed() as session:
        _, busy_key = await api_keys.create_organization(session, "Busy")
        _, other_key = await api_keys.create_organization(session, "Other tenant")
        await session.commit()
    busy = await _client(app, busy_key)
    other = await _client(app, other_key)
    s = await f.setup_campaign(busy)
    url = f"/v1/campaigns/{s['campaign']['id']}/posts"
    posting = [
        asyncio.create_task(
            busy.post(
                url,
                json={"url": f"https://vm.tiktok.com/HANG{i}/", "creator_id": s["tiktok"]["id"]},
            )
        )
        for i in range(25)
    ]
    await hanging.all_waiting.wait()
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 0  # not one connection waits on a short link
    assert (await other.get("/v1/campaigns")).status_code == 200  # another tenant is served

    hanging.release.set()
    answers = await asyncio.gather(*posting)
    assert {a.status_code for a in answers} == {502}
    problem = answers[0].json()
    assert problem["code"] == "short_link_unavailable"
    assert "Errno" not in problem["detail"]
    assert "ConnectError" not in problem["detail"]
    assert answers[0].headers["retry-after"]
    await busy.aclose()
    await other.aclose()


async def test_links_that_lead_nowhere_are_the_callers_422(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    url = f"/v1/campaigns/{s['campaign']['id']}/posts"
    for link in (
        "http://vm.tiktok.com:81/ZMabc123/",  # a port on the first hop
        "https://vm.tiktok.com/EVIL/",  # leads off the platform
        "https://vm.tiktok.com/LOOP/",  # redirects to itself
    ):
        refused = await client.post(url, json={"url": link, "creator_id": s["tiktok"]["id"]})
        assert (refused.status_code, refused.json()["code"]) == (422, "short_link_invalid"), link
        assert "Error" not in refused.json()["detail"]
