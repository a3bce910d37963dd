"""Fixtures for the API tests whose requests really commit (the engine and concurrent requests
each need their own connections)."""

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.enums import Role
from app.repositories import api_keys
from app.settings import Settings
from tests.conftest import served_app
from tests.engine_kit import SM, Seeded

ClientFor = Callable[[Seeded], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def api(settings: Settings, engine: AsyncEngine, committed: SM) -> AsyncIterator[ClientFor]:
    """An admin client of a seeded organization, on an app with its own connections."""
    async with served_app(settings, engine) as app:

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
