"""Every creator gets an access code, shown once, stored hashed; an admin can rotate it; and
attempts to use codes are limited per client and per code."""

import httpx
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Creator
from app.services import access_codes
from tests import factories as f


async def test_a_code_is_shown_once_stored_hashed_and_rotated_by_an_admin(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    made = await f.creator(client, "coded")
    code = made["access_code"]
    assert len(access_codes.normalize(code)) == 16
    assert "access_code" not in await f.ok(await client.get(f"/v1/creators/{made['id']}"))
    stored = await session.scalar(select(Creator.access_code_hash).where(Creator.id == made["id"]))
    assert stored == access_codes.digest(code)
    assert code not in str(stored)
    found = await access_codes.creator_for(session, code.lower().replace("-", " "))
    assert found is not None
    assert str(found.id) == made["id"]

    rotated = await f.ok(await client.post(f"/v1/creators/{made['id']}/access-code"))
    assert rotated["access_code"] != code
    assert await access_codes.creator_for(session, code) is None  # the old one is gone
    assert await access_codes.creator_for(session, rotated["access_code"]) is not None


async def test_guessing_codes_is_limited_per_client_and_per_code(redis: Redis) -> None:
    attempts = access_codes.CodeAttempts(redis, per_minute=1, burst=3)
    for i in range(3):
        assert await attempts.retry_after("203.0.113.9", f"GUESS-{i}") is None
    assert (await attempts.retry_after("203.0.113.9", "GUESS-9") or 0) > 0  # this client
    for client in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        assert await attempts.retry_after(client, "ONE-CODE") is None
    assert (await attempts.retry_after("198.51.100.4", "ONE-CODE") or 0) > 0  # this code
    assert await attempts.retry_after("198.51.100.5", "OTHER-CODE") is None
