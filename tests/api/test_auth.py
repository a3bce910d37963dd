"""Keys, roles and tenancy."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import Recent
from app.domain.enums import Role
from app.main import create_app
from app.settings import Settings
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


# Issue 22 item 6: bounds per organization.


@asynccontextmanager
async def _admin_with(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    key: str,
    **overrides: object,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update=overrides), engine=engine, sessionmaker=sessionmaker
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client,
    ):
        yield client


async def test_an_organization_has_at_most_max_api_keys_per_org_unrevoked_keys(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
    make_org: MakeOrg,
) -> None:
    async with _admin_with(settings, engine, sessionmaker, org.key, max_api_keys_per_org=3) as c:
        made = [await f.ok(await c.post("/v1/api-keys", json={"role": "viewer"}), 201)]
        made.append(await f.ok(await c.post("/v1/api-keys", json={"role": "editor"}), 201))
        full = await c.post("/v1/api-keys", json={"role": "viewer"})  # the org's own key + 2
        assert full.status_code == 409
        assert full.headers["content-type"] == "application/problem+json"
        assert full.json()["code"] == "api_key_limit_reached"
        assert "3" in full.json()["detail"]
        assert len((await f.ok(await c.get("/v1/api-keys")))["data"]) == 3
        # A revoked key frees its place.
        assert (await c.delete(f"/v1/api-keys/{made[0]['id']}")).status_code == 204
        await f.ok(await c.post("/v1/api-keys", json={"role": "viewer"}), 201)
        again = await c.post("/v1/api-keys", json={"role": "viewer"})
        assert (again.status_code, again.json()["code"]) == (409, "api_key_limit_reached")
    # Another organization counts its own.
    rival = await make_org("Rival")
    async with _admin_with(settings, engine, sessionmaker, rival.key, max_api_keys_per_org=3) as c:
        await f.ok(await c.post("/v1/api-keys", json={"role": "viewer"}), 201)


async def test_an_organization_has_at_most_max_webhook_endpoints_per_org(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    org: Org,
    make_org: MakeOrg,
) -> None:
    url = {"url": "http://127.0.0.1:9/hooks"}
    limit = {"max_webhook_endpoints_per_org": 2}
    async with _admin_with(settings, engine, sessionmaker, org.key, **limit) as c:
        first = await f.ok(await c.post("/v1/webhook-endpoints", json=url), 201)
        await f.ok(
            await c.post("/v1/webhook-endpoints", json={**url, "enabled": False}), 201
        )  # a disabled endpoint counts: it can be enabled again
        full = await c.post("/v1/webhook-endpoints", json=url)
        assert full.status_code == 409
        assert full.json()["code"] == "webhook_endpoint_limit_reached"
        assert len((await f.ok(await c.get("/v1/webhook-endpoints")))["data"]) == 2
        assert (await c.delete(f"/v1/webhook-endpoints/{first['id']}")).status_code == 204
        await f.ok(await c.post("/v1/webhook-endpoints", json=url), 201)
    rival = await make_org("Rival")
    async with _admin_with(settings, engine, sessionmaker, rival.key, **limit) as c:
        await f.ok(await c.post("/v1/webhook-endpoints", json=url), 201)


# Issue 22 item 7: nothing parsed before authentication.


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json"), *headers],
        "client": ("203.0.113.7", 50000),
        "server": ("test", 80),
    }


async def _call_without_reading(app: object, scope: dict[str, object]) -> tuple[int, int, bytes]:
    """Calls the app with a 0.7 MB body of malformed JSON and counts how often it asks for
    the body; returns (status, reads, answer)."""
    reads = 0
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"[" * 700_000, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app(scope, receive, send)  # type: ignore[operator]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return int(start["status"]), reads, body  # type: ignore[call-overload]


async def test_an_unauthenticated_body_is_refused_401_without_being_read(
    app: object, client_for: ClientFor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    length = (b"content-length", b"700000")
    for auth in ([], [(b"authorization", b"Bearer vl_not-a-real-key")]):
        status, reads, body = await _call_without_reading(
            app, _scope("/v1/campaigns", [length, *auth])
        )
        assert (status, reads) == (401, 0), body[:200]
        assert b'"unauthorized"' in body

    # Over HTTP: a malformed body still gets the 401 (parsing it first would answer 422).
    malformed = b'{"name": ' + b"[" * 700_000
    for key in (None, "vl_not-a-real-key"):
        async with client_for(key) as anonymous:
            response = await anonymous.post(
                "/v1/campaigns", content=malformed, headers={"content-type": "application/json"}
            )
        assert response.status_code == 401, response.text[:200]
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["request_id"] == response.headers["x-request-id"]
    # Logged (and counted) under the operation's template, as any answer.
    assert "POST /v1/campaigns 401" in caplog.text


async def test_a_known_key_s_body_is_read_and_public_operations_are_unchanged(
    client: httpx.AsyncClient, client_for: ClientFor
) -> None:
    malformed = {"content": b'{"name": [', "headers": {"content-type": "application/json"}}
    refused = await client.post("/v1/campaigns", **malformed)  # type: ignore[arg-type]
    assert refused.status_code == 422  # authenticated: now the body is read, and judged
    await f.ok(await client.post("/v1/campaigns", json={"name": "Read"}), 201)
    # The portal's sign-in takes no API key: its body is read as before.
    async with client_for(None) as anonymous:
        portal = await anonymous.post("/v1/portal/session", **malformed)  # type: ignore[arg-type]
    assert portal.status_code == 422
    # Unknown paths and methods answer as before, with no key asked for.
    async with client_for(None) as anonymous:
        assert (await anonymous.post("/v1/nothing-here", content=b"x")).status_code == 404
        assert (await anonymous.put("/v1/campaigns", content=b"x")).status_code == 405


async def test_a_credential_read_while_it_changed_here_is_not_kept() -> None:
    """A read that began before this process changed a credential (the cache cleared: a
    sign-out, a revocation) ended after it: what it read is answered once, never kept."""
    recent: Recent[str] = Recent()
    reading, release = asyncio.Event(), asyncio.Event()

    async def as_it_was() -> str:
        reading.set()
        await release.wait()
        return "live"

    async def as_it_is() -> str:
        return "ended"

    first = asyncio.create_task(recent.get("a session's token", as_it_was))
    await reading.wait()
    recent.clear()  # the sign-out, answered meanwhile
    release.set()
    assert await first == "live"
    assert await recent.get("a session's token", as_it_is) == "ended"
    assert await recent.get("a session's token", as_it_was) == "ended"  # kept now
