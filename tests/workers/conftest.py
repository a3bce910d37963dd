"""Fixtures and helpers for the worker tests that drive the API and the refresher against the
sandbox: an admin client whose writes commit, and a refresh of every due post."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.models import Post
from app.settings import Settings
from app.workers.refresher import Refresher
from tests import factories as f
from tests.conftest import committed_admin
from tests.engine_kit import Clock

SM = async_sessionmaker[AsyncSession]


Refresh = Callable[[], Awaitable[None]]


@pytest.fixture
async def admin(
    settings: Settings, engine: AsyncEngine, committed: SM
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a new organization, on an app whose writes commit (the refresher
    reads them from its own connections)."""
    async with committed_admin(settings, engine, committed, "Payee") as client:
        yield client


@pytest.fixture
def refresh(make_refresher: Callable[[], Refresher], committed: SM, clock: Clock) -> Refresh:
    """Fetch every post now, every platform, as the worker's sweeps would."""

    async def run() -> None:
        async with committed() as session:
            await session.execute(update(Post).values(next_refresh_at=clock.now))
            await session.commit()
        refresher = make_refresher()
        await refresher.refresh_due(Platform.TIKTOK)
        await refresher.refresh_due(Platform.INSTAGRAM)
        await refresher.refresh_due(Platform.YOUTUBE)

    return run


async def _campaign(client: httpx.AsyncClient, **fields: Any) -> tuple[str, str]:
    """A campaign with a 4.50 tier; returns (campaign id, tier id)."""
    c = await f.campaign(client, **fields)
    t = await f.tier(client, c["id"])
    return c["id"], t["id"]


async def _member(
    client: httpx.AsyncClient, campaign_id: str, tier_id: str, handle: str, **fields: Any
) -> dict[str, Any]:
    creator = await f.ok(
        await client.post("/v1/creators", json={"platform": "tiktok", "handle": handle, **fields}),
        201,
    )
    await f.member(client, campaign_id, creator["id"], tier_id)
    return creator


def _url(handle: str, video: str) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{video}"


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    return await f.ok(await client.get(path))
