"""Keys, roles and tenancy."""

from collections.abc import Awaitable, Callable

import httpx
import pytest

from app.domain.enums import Role
from tests import factories as f
from tests.conftest import MakeOrg, Org

ClientFor = Callable[[str | None], httpx.AsyncClient]


async def test_no_key_or_an_unknown_key_is_401_with_a_bearer_challenge(
    client_for: ClientFor,
) -> None:
    for key in (None, "vl_not-a-real-key"):
        async with client_for(key) as anonymous:
            response = await anonymous.get("/v1/campaigns")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "unauthorized"


async def test_another_organizations_resources_answer_404_and_never_leak(
    client: httpx.AsyncClient, client_for: ClientFor, make_org: MakeOrg
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url="https://www.tiktok.com/@scout2015/video/1")
    rival = await make_org("Rival")
    async with client_for(rival.key) as other:
        cid = s["campaign"]["id"]
        for method, path in [
            ("GET", f"/v1/campaigns/{cid}"),
            ("PATCH", f"/v1/campaigns/{cid}"),
            ("DELETE", f"/v1/campaigns/{cid}"),
            ("GET", f"/v1/campaigns/{cid}/cpm-tiers"),
            ("GET", f"/v1/campaigns/{cid}/members"),
            ("GET", f"/v1/campaigns/{cid}/posts"),
            ("GET", f"/v1/creators/{s['tiktok']['id']}"),
            ("GET", f"/v1/posts/{p['id']}"),
            ("GET", f"/v1/posts/{p['id']}/events"),
            ("POST", f"/v1/posts/{p['id']}/mark-paid"),
        ]:
            response = await other.request(method, path, json={} if method == "PATCH" else None)
            assert response.status_code == 404, (method, path, response.text)
        assert (await f.ok(await other.get("/v1/posts")))["data"] == []
        assert (await f.ok(await other.get("/v1/campaigns")))["data"] == []
        # Their creator cannot be added to our campaign, nor ours to theirs.
        theirs = await f.campaign(other)
        response = await other.post(
            f"/v1/campaigns/{theirs['id']}/members", json={"creator_id": s["tiktok"]["id"]}
        )
        # Named in the body, it is invalid input, exactly as a creator that does not exist.
        assert (response.status_code, response.json()["code"]) == (422, "creator_not_found")
    # The same handle is free in another organization.
    async with client_for(rival.key) as other:
        assert (
            await other.post("/v1/creators", json={"platform": "tiktok", "handle": "scout2015"})
        ).status_code == 201


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {"read"}),
        (Role.EDITOR, {"read", "write"}),
        (Role.ADMIN, {"read", "write", "admin"}),
    ],
)
async def test_roles_allow_what_the_guide_says(
    client: httpx.AsyncClient,
    client_for: ClientFor,
    org: Org,
    make_key: Callable[[Org, Role], Awaitable[str]],
    role: Role,
    allowed: set[str],
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url="https://www.tiktok.com/@scout2015/video/1")
    async with client_for(await make_key(org, role)) as caller:
        checks = {
            "read": await caller.get(f"/v1/posts/{p['id']}"),
            "write": await caller.post("/v1/campaigns", json={"name": "By " + role}),
            "admin": await caller.post(f"/v1/posts/{p['id']}/reject", json={"reason": "test"}),
        }
        keys = await caller.get("/v1/api-keys")
    for kind, response in checks.items():
        if kind in allowed:
            assert response.status_code < 300, (kind, response.text)
        else:
            assert (response.status_code, response.json()["code"]) == (403, "forbidden"), kind
    assert keys.status_code == (200 if role is Role.ADMIN else 403)


async def test_keys_are_shown_once_listed_by_prefix_and_revocable(
    client: httpx.AsyncClient, client_for: ClientFor, org: Org
) -> None:
    me = await f.ok(await client.get("/v1/me"))
    assert (me["organization_id"], me["role"]) == (str(org.id), "admin")
    created = await f.ok(
        await client.post("/v1/api-keys", json={"name": "ci", "role": "viewer"}), 201
    )
    assert created["key"].startswith(created["prefix"])
    listed = (await f.ok(await client.get("/v1/api-keys")))["data"]
    assert {k["id"] for k in listed} == {me["key_id"], created["id"]}
    assert all("key" not in k for k in listed)
    async with client_for(created["key"]) as viewer:
        assert (await viewer.get("/v1/me")).json()["role"] == "viewer"
        assert (await client.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
        assert (await viewer.get("/v1/me")).status_code == 401
    assert (await client.delete(f"/v1/api-keys/{created['id']}")).status_code == 404
