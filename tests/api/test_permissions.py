"""The permission table (app.domain.permissions), row by row, for keys and users alike, and
campaign-restricted callers end to end (issue 25, step 2)."""

import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Role
from app.domain.permissions import (
    FILTERED,
    OPERATIONS,
    PERMISSIONS,
    Action,
    Actor,
    CampaignRole,
    Decision,
    allowed,
)
from app.models import Post
from app.settings import PROJECT_ROOT
from tests import factories as f
from tests.api.test_users import PASSWORD, activate, sign_in

A = uuid.UUID(int=1)
B = uuid.UUID(int=2)
ALLOW, FORBID, HIDE = Decision.ALLOW, Decision.FORBID, Decision.HIDE

# The README's table, written out again: key role needed, then campaign_admin and
# campaign_editor (an org admin user acts as an admin key).
EXPECTED: dict[Action, tuple[Role, bool, bool]] = {
    Action.CAMPAIGN_READ: (Role.VIEWER, True, True),
    Action.CAMPAIGN_CREATE: (Role.EDITOR, False, False),
    Action.CAMPAIGN_TERMS: (Role.EDITOR, True, False),
    Action.CAMPAIGN_DELETE: (Role.ADMIN, False, False),
    Action.TIERS_MANAGE: (Role.EDITOR, True, True),
    Action.ROSTER_MANAGE: (Role.EDITOR, True, False),
    Action.POSTS_ADD: (Role.EDITOR, True, False),
    Action.POSTS_EDIT: (Role.EDITOR, True, True),
    Action.POST_DECIDE: (Role.ADMIN, True, True),
    Action.POST_MARK_PAID: (Role.ADMIN, True, True),
}
_RANK = [Role.VIEWER, Role.EDITOR, Role.ADMIN]


def test_the_table_covers_every_action() -> None:
    assert set(EXPECTED) == set(Action) == set(PERMISSIONS)


@pytest.mark.parametrize("action", list(Action))
def test_permission_row(action: Action) -> None:
    needed, campaign_admin, campaign_editor = EXPECTED[action]
    scoped = PERMISSIONS[action].campaign_scoped
    where = A if scoped else None
    for role in Role:  # unrestricted keys, and org admins (as admin keys)
        want = ALLOW if _RANK.index(role) >= _RANK.index(needed) else FORBID
        assert allowed(Actor(role), action, where) is want, (action, role)
        # The same key restricted to campaign A: the same inside A, nothing outside it.
        inside = want if scoped else FORBID
        assert allowed(Actor(role, frozenset({A})), action, where) is inside, (action, role)
        if scoped:
            assert allowed(Actor(role, frozenset({A})), action, B) is HIDE
    for campaign_role, expected in (
        (CampaignRole.CAMPAIGN_ADMIN, campaign_admin),
        (CampaignRole.CAMPAIGN_EDITOR, campaign_editor),
    ):
        member = Actor(Role.VIEWER, campaign_roles={A: campaign_role})
        want = ALLOW if expected and scoped else FORBID
        assert allowed(member, action, where) is want, (action, campaign_role)
        if scoped:  # a campaign they hold no role in does not exist for them
            assert allowed(member, action, B) is HIDE
    nobody = Actor(Role.VIEWER, campaign_roles={})
    assert allowed(nobody, action, where) is (HIDE if scoped else FORBID)


def _required_role(route: APIRoute) -> Role | None:
    def walk(dependant: Any) -> Role | None:
        for sub in dependant.dependencies:
            cells = getattr(sub.call, "__closure__", None) or ()
            for cell in cells:
                if isinstance(cell.cell_contents, Role):
                    return cell.cell_contents
            found = walk(sub)
            if found is not None:
                return found
        return None

    return walk(route.dependant)


def test_each_operation_needs_its_action_s_key_role(app: Any) -> None:
    """The routers' declared roles are the table's: keys and users are checked alike."""
    routes = {
        c.original_route.name: c.original_route
        for c in iter_route_contexts(app.router.routes)
        if isinstance(c.original_route, APIRoute)
    }
    assert set(OPERATIONS) | set(FILTERED) <= set(routes)
    assert not set(OPERATIONS) & set(FILTERED)
    for name, action in {**OPERATIONS, **FILTERED}.items():
        assert _required_role(routes[name]) is PERMISSIONS[action].key_role, name


def test_the_readme_shows_the_table() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    for action, (role, campaign_admin, campaign_editor) in EXPECTED.items():
        marks = r" \| ".join("yes" if m else "no" for m in (campaign_admin, campaign_editor))
        pattern = rf"\| `{re.escape(action.value)}` \| {role.value} \| {marks} \|"
        assert re.search(pattern, readme), action


# End to end: the same rules for a member's session and for a restricted key.

TIKTOK = "https://www.tiktok.com/@scout2015/video/67183353908450951{}"


@pytest.fixture(autouse=True)
async def _fresh_redis(redis: Redis) -> None:
    pass


async def _world(client: httpx.AsyncClient) -> dict[str, Any]:
    s = await f.setup_campaign(client)
    a = s["campaign"]["id"]
    b = (await f.campaign(client, name="Other"))["id"]
    tier_b = await f.tier(client, b)
    await f.member(client, b, s["tiktok"]["id"], tier_b["id"])
    post_a = await f.post(client, a, url=TIKTOK.format("73"))
    post_b = await f.post(client, b, url=TIKTOK.format("74"))
    return {
        "a": a,
        "b": b,
        "tier_a": s["tier"]["id"],
        "tier_b": tier_b["id"],
        "post_a": post_a["id"],
        "post_b": post_b["id"],
        "creator": s["instagram"]["id"],
    }


Caller = Callable[..., Any]


@asynccontextmanager
async def as_member(
    app: Any, client: httpx.AsyncClient, campaign_id: str, role: str
) -> AsyncIterator[httpx.AsyncClient]:
    user = await activate(client, f"m{uuid.uuid4().hex[:8]}@example.com", role="member")
    await f.ok(
        await client.put(f"/v1/campaigns/{campaign_id}/roles/{user['id']}", json={"role": role})
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as web:
        signed = await sign_in(web, user["email"], PASSWORD)
        web.headers["X-CSRF-Token"] = signed["csrf_token"]
        yield web


@asynccontextmanager
async def as_restricted_key(
    app: Any, client: httpx.AsyncClient, campaign_id: str, role: str
) -> AsyncIterator[httpx.AsyncClient]:
    made = await f.ok(
        await client.post("/v1/api-keys", json={"role": role, "campaign_ids": [campaign_id]}),
        201,
    )
    assert made["campaign_ids"] == [campaign_id]
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {made['key']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as key_client:
        yield key_client


@pytest.mark.parametrize(
    ("make", "role"),
    [(as_member, "campaign_editor"), (as_restricted_key, "admin")],
    ids=["member-campaign_editor", "key-restricted"],
)
async def test_a_restricted_caller_works_in_its_campaign_and_sees_no_other(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, make: Any, role: str
) -> None:
    w = await _world(client)
    async with make(app, client, w["a"], role) as caller:
        listed = await f.ok(await caller.get("/v1/campaigns"))
        assert [c["id"] for c in listed["data"]] == [w["a"]]
        await f.ok(await caller.get(f"/v1/campaigns/{w['a']}/analytics"))
        # Assign a tier, then mark the finalized post paid.
        await f.ok(await caller.patch(f"/v1/posts/{w['post_a']}", json={"cpm_tier_id": None}))
        await f.ok(
            await caller.patch(f"/v1/posts/{w['post_a']}", json={"cpm_tier_id": w["tier_a"]})
        )
        await session.execute(
            update(Post)
            .where(Post.id == w["post_a"])
            .values(status="finalized", locked_views=2000, earnings=Decimal("9.00"))
        )
        await session.commit()
        paid = await f.ok(await caller.post(f"/v1/posts/{w['post_a']}/mark-paid", json=None))
        assert paid["status"] == "paid"
        # Campaign B and everything in it: as if it did not exist.
        for method, path, body in (
            ("GET", f"/v1/campaigns/{w['b']}", None),
            ("GET", f"/v1/campaigns/{w['b']}/posts", None),
            ("GET", f"/v1/campaigns/{w['b']}/analytics", None),
            ("GET", f"/v1/campaigns/{w['b']}/cpm-tiers", None),
            ("GET", f"/v1/posts/{w['post_b']}", None),
            ("GET", f"/v1/posts/{w['post_b']}/events", None),
            ("PATCH", f"/v1/posts/{w['post_b']}", {"cpm_tier_id": w["tier_b"]}),
            ("POST", f"/v1/posts/{w['post_b']}/mark-paid", None),
        ):
            answer = await caller.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        # Organization-wide operations that are not filtered are not for a restricted caller
        # (the filtered ones: tests/api/test_campaign_scope.py).
        for method, path in (
            ("POST", "/v1/campaigns"),
            ("GET", "/v1/api-keys"),
        ):
            answer = await caller.request(method, path, json={"name": "x"})
            assert answer.status_code == 403, (method, path)


async def test_a_campaign_editor_cannot_manage_the_roster_or_the_terms(
    app: Any, client: httpx.AsyncClient
) -> None:
    w = await _world(client)
    async with as_member(app, client, w["a"], "campaign_editor") as editor:
        await f.ok(
            await editor.post(
                f"/v1/campaigns/{w['a']}/cpm-tiers", json={"name": "Gold", "cpm": "9.00"}
            ),
            201,
        )
        roster = await editor.delete(f"/v1/campaigns/{w['a']}/members/{w['creator']}")
        assert roster.status_code == 403
        terms = await editor.patch(f"/v1/campaigns/{w['a']}", json={"min_views": 10})
        assert terms.status_code == 403
    async with as_member(app, client, w["a"], "campaign_admin") as admin:
        await f.ok(await admin.delete(f"/v1/campaigns/{w['a']}/members/{w['creator']}"), 204)
        await f.ok(await admin.patch(f"/v1/campaigns/{w['a']}", json={"name": "Renamed"}))
        gone = await admin.delete(f"/v1/campaigns/{w['a']}")
        assert gone.status_code == 403


async def test_a_member_without_roles_sees_no_campaign(app: Any, client: httpx.AsyncClient) -> None:
    w = await _world(client)
    await activate(client, "loner@example.com", role="member")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as web:
        await sign_in(web, "loner@example.com", PASSWORD)
        assert (await f.ok(await web.get("/v1/campaigns")))["data"] == []
        assert (await web.get(f"/v1/campaigns/{w['a']}")).status_code == 404


async def test_campaign_roles_api(
    client: httpx.AsyncClient, make_org: Any, client_for: Any
) -> None:
    w = await _world(client)
    user = await activate(client, "rita@example.com", role="member")
    path = f"/v1/campaigns/{w['a']}/roles/{user['id']}"
    first = await f.ok(await client.put(path, json={"role": "campaign_editor"}))
    changed = await f.ok(await client.put(path, json={"role": "campaign_admin"}))
    assert (first["role"], changed["role"]) == ("campaign_editor", "campaign_admin")
    listed = await f.ok(await client.get(f"/v1/campaigns/{w['a']}/roles"))
    assert [(r["user_id"], r["role"]) for r in listed["data"]] == [(user["id"], "campaign_admin")]
    other = await make_org("Other")
    async with client_for(other.key) as stranger:
        assert (await stranger.put(path, json={"role": "campaign_admin"})).status_code == 404
    await f.ok(await client.delete(path), 204)
    assert (await client.delete(path)).status_code == 404
    unknown = await client.post(
        "/v1/api-keys", json={"role": "viewer", "campaign_ids": [str(uuid.uuid4())]}
    )
    assert unknown.status_code == 404
