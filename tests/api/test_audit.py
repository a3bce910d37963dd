"""The audit log (issue 25, step 3): who (key and user) did what, to what, when, from where."""

from decimal import Decimal
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.audit import AUDITED
from app.domain.enums import Role
from app.models import Post
from app.settings import Settings
from tests import factories as f
from tests.api.test_users import PASSWORD, activate, sign_in, throttled_app

TIKTOK = "https://www.tiktok.com/@scout2015/video/6718335390845095173"


@pytest.fixture(autouse=True)
async def _fresh_redis(redis: Redis) -> None:
    pass


async def events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    return (await f.ok(await client.get("/v1/audit-events", params=params)))["data"]


async def test_actions_record_their_key_user_resource_and_address(
    app: Any, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    me = await f.ok(await client.get("/v1/me"))
    user = await activate(client, "audra@example.com")
    s = await f.setup_campaign(client)
    post = await f.post(client, s["campaign"]["id"], url=TIKTOK)
    await session.execute(
        update(Post)
        .where(Post.id == post["id"])
        .values(status="finalized", locked_views=2000, earnings=Decimal("9.00"))
    )
    await session.commit()

    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as web:
        signed = await sign_in(web, "audra@example.com")
        web.headers["X-CSRF-Token"] = signed["csrf_token"]
        await f.ok(await web.post(f"/v1/posts/{post['id']}/mark-paid", json=None))
        # A refused action leaves no record.
        again = await web.post(f"/v1/posts/{post['id']}/mark-paid", json={"payout_reference": "x"})
        assert again.status_code == 409

    invited = await events(client, action="user.invited")
    assert [(e["resource_id"], e["actor_key_id"], e["actor_user_id"]) for e in invited] == [
        (user["id"], me["key_id"], None)
    ]
    paid = await events(client, action="post.marked_paid")
    assert len(paid) == 1
    assert paid[0]["resource_type"] == "post"
    assert paid[0]["resource_id"] == post["id"]
    assert paid[0]["actor_user_id"] == user["id"]
    assert paid[0]["actor_key_id"] is not None  # the user's own key row
    assert paid[0]["actor_key_id"] != me["key_id"]
    assert paid[0]["client_address"] == "192.0.2.7"
    signed_in = await events(client, action="user.signed_in", actor_user_id=user["id"])
    assert len(signed_in) == 1
    assert signed_in[0]["client_address"] == "192.0.2.7"
    set_password = await events(client, action="user.password_set")
    assert [e["resource_id"] for e in set_password] == [user["id"]]
    # Everything the user did, newest first, a page at a time.
    mine = await events(client, actor_user_id=user["id"])
    assert [e["action"] for e in mine] == [
        "post.marked_paid",
        "user.signed_in",
        "user.password_set",
    ]
    first = await f.ok(
        await client.get("/v1/audit-events", params={"actor_user_id": user["id"], "limit": 1})
    )
    rest = await f.ok(
        await client.get(
            "/v1/audit-events",
            params={"actor_user_id": user["id"], "cursor": first["next_cursor"]},
        )
    )
    assert [e["action"] for e in first["data"] + rest["data"]] == [e["action"] for e in mine]
    by_resource = await events(client, resource_type="post", resource_id=post["id"])
    assert [e["action"] for e in by_resource] == ["post.marked_paid"]
    later = await events(client, since=paid[0]["occurred_at"])
    assert paid[0]["id"] in [e["id"] for e in later]
    before = await events(client, until=invited[0]["occurred_at"])
    assert invited[0]["id"] not in [e["id"] for e in before]


async def test_keys_roles_and_rejections_are_audited(client: httpx.AsyncClient) -> None:
    made = await f.ok(await client.post("/v1/api-keys", json={"role": "viewer"}), 201)
    await f.ok(await client.delete(f"/v1/api-keys/{made['id']}"), 204)
    s = await f.setup_campaign(client)
    post = await f.post(client, s["campaign"]["id"], url=TIKTOK)
    await f.ok(await client.post(f"/v1/posts/{post['id']}/reject", json={"reason": "spam"}))
    await f.ok(await client.post(f"/v1/posts/{post['id']}/restore", json={"reason": "ok"}))
    user = await activate(client, "ross@example.com", role="member")
    role_path = f"/v1/campaigns/{s['campaign']['id']}/roles/{user['id']}"
    await f.ok(await client.put(role_path, json={"role": "campaign_editor"}))
    await f.ok(await client.delete(role_path), 204)
    await f.ok(await client.delete(f"/v1/users/{user['id']}"), 204)
    actions = [(e["action"], e["resource_id"]) for e in await events(client)]
    assert actions[:9] == [
        ("user.removed", user["id"]),
        ("campaign_role.removed", s["campaign"]["id"]),
        ("campaign_role.set", s["campaign"]["id"]),
        ("user.password_set", user["id"]),
        ("user.invited", user["id"]),
        ("post.restored", post["id"]),
        ("post.rejected", post["id"]),
        ("api_key.revoked", made["id"]),
        ("api_key.created", made["id"]),
    ]


async def test_signing_out_everywhere_and_throttled_sign_ins_are_audited(
    client: httpx.AsyncClient,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await activate(client, "sol@example.com")
    async with (
        throttled_app(settings, engine, sessionmaker, 1, 1) as make,
        make("198.51.100.4") as web,
    ):
        signed = await sign_in(web, "sol@example.com", PASSWORD)
        token = {"X-CSRF-Token": signed["csrf_token"]}
        assert (await web.delete("/v1/sessions", headers=token)).status_code == 200
        limited = await web.post(
            "/v1/session", json={"email": "sol@example.com", "password": "a wrong one!!"}
        )
        assert limited.status_code == 429
    out = await events(client, action="user.signed_out_everywhere")
    assert [(e["resource_id"], e["actor_user_id"]) for e in out] == [(user["id"], user["id"])]
    throttled = await events(client, action="user.sign_in_throttled")
    assert [(e["resource_id"], e["client_address"]) for e in throttled] == [
        (user["id"], "198.51.100.4")
    ]


async def test_only_admins_read_the_log_and_only_their_organization_s(
    client: httpx.AsyncClient, make_org: Any, make_key: Any, client_for: Any, org: Any
) -> None:
    await activate(client, "tia@example.com")
    editor = await make_key(org, Role.EDITOR)
    async with client_for(editor) as c:
        assert (await c.get("/v1/audit-events")).status_code == 403
    other = await make_org("Other")
    async with client_for(other.key) as c:
        assert (await f.ok(await c.get("/v1/audit-events")))["data"] == []


def test_every_audited_operation_exists(app: Any) -> None:
    from fastapi.routing import APIRoute, iter_route_contexts

    names = {
        c.original_route.name
        for c in iter_route_contexts(app.router.routes)
        if isinstance(c.original_route, APIRoute)
    }
    assert set(AUDITED) <= names, set(AUDITED) - names
