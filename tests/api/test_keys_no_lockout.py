"""An organization always keeps an active admin key (issue 11: no lockout)."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Role
from app.domain.errors import Conflict
from app.repositories import api_keys
from tests import factories as f
from tests.conftest import Org

ClientFor = Callable[[str | None], httpx.AsyncClient]


async def test_the_last_active_admin_key_cannot_be_revoked(
    client: httpx.AsyncClient,
    client_for: ClientFor,
    org: Org,
    make_key: Callable[[Org, Role], Awaitable[str]],
) -> None:
    me = await f.ok(await client.get("/v1/me"))
    own = await client.delete(f"/v1/api-keys/{me['key_id']}")
    assert (own.status_code, own.json()["code"]) == (409, "last_admin_key")
    assert own.headers["content-type"] == "application/problem+json"

    # Editors and viewers do not count: the admin key stays the last one.
    await make_key(org, Role.EDITOR)
    assert (await client.delete(f"/v1/api-keys/{me['key_id']}")).status_code == 409

    # With a second admin key, either can go, but not both.
    second = await f.ok(await client.post("/v1/api-keys", json={"role": "admin"}), 201)
    assert (await client.delete(f"/v1/api-keys/{me['key_id']}")).status_code == 204
    async with client_for(second["key"]) as admin:
        mine = await admin.delete(f"/v1/api-keys/{second['id']}")
        assert (mine.status_code, mine.json()["code"]) == (409, "last_admin_key")
        assert (await admin.get("/v1/me")).status_code == 200


async def test_two_admins_revoking_each_other_at_once_leave_one(
    committed: async_sessionmaker[AsyncSession],
) -> None:
    async with committed() as session:
        org, _ = await api_keys.create_organization(session, "Racing")
        second, _ = await api_keys.create(session, org.id, Role.ADMIN)
        # The organization's own key: not the second (two keys made in the same millisecond
        # need not sort in the order they were made).
        (first_id,) = [k.id for k in await api_keys.list_for(session, org.id) if k.id != second.id]
        second_id = second.id
        await session.commit()

    async def revoke(key_id: uuid.UUID) -> str:
        async with committed() as session:
            try:
                revoked = await api_keys.revoke(session, org.id, key_id)
            except Conflict as exc:
                return exc.code
            # Hold the lock a moment so the other revocation certainly waits on it.
            await asyncio.sleep(0.05)
            await session.commit()
            return "revoked" if revoked else "missing"

    outcomes = await asyncio.gather(revoke(first_id), revoke(second_id))
    assert sorted(outcomes) == ["last_admin_key", "revoked"]
    async with committed() as session:
        active = [k for k in await api_keys.list_for(session, org.id) if k.revoked_at is None]
    assert len(active) == 1
