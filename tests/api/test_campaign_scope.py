"""Organization-wide operations answer a caller restricted to some campaigns (an org member,
or a key with `campaign_ids`) for its campaigns only: the post list and change feed, ready
totals, payout batches and their exports, refresh runs, bulk paste, creators (issue 25,
step 4). A resource of another campaign answers 404."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus, Role
from app.domain.permissions import Action, Actor, CampaignRole, within
from app.models import Post
from tests import factories as f
from tests.api.test_permissions import TIKTOK, as_member, as_restricted_key

T0 = datetime(2026, 11, 1, tzinfo=UTC)
CALLERS = pytest.mark.parametrize(
    ("make", "role"),
    [(as_member, "campaign_editor"), (as_restricted_key, "admin")],
    ids=["member-campaign_editor", "key-restricted"],
)


async def _finalize(session: AsyncSession, post_id: str, earnings: str) -> None:
    await session.execute(
        update(Post)
        .where(Post.id == uuid.UUID(post_id))
        .values(
            status=PostStatus.FINALIZED,
            views=2_000,
            locked_views=2_000,
            earnings=Decimal(earnings),
            finalized_at=T0,
            updated_at=T0,  # settled: the change feed shows it
        )
    )
    await session.commit()


async def _world(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, Any]:
    """Campaigns A (two finalized posts by the TikTok creator) and B (one, by the same
    creator, and a creator only B has)."""
    s = await f.setup_campaign(client)
    a = s["campaign"]["id"]
    b = (await f.campaign(client, name="Other"))["id"]
    tier_b = await f.tier(client, b)
    await f.member(client, b, s["tiktok"]["id"], tier_b["id"])
    only_b = await f.creator(client, "only_in_b", "tiktok")
    await f.member(client, b, only_b["id"], tier_b["id"])
    posts_a = [(await f.post(client, a, url=TIKTOK.format(n)))["id"] for n in ("73", "75")]
    post_b = (await f.post(client, b, url=TIKTOK.format("74")))["id"]
    for post_id, earnings in ((posts_a[0], "3.00"), (posts_a[1], "4.00"), (post_b, "50.00")):
        await _finalize(session, post_id, earnings)
    return {
        "a": a,
        "b": b,
        "posts_a": posts_a,
        "post_b": post_b,
        "creators_a": {s["tiktok"]["id"], s["instagram"]["id"]},
        "only_b": only_b["id"],
    }


async def _all_pages(caller: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every page, following cursors one item at a time."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = await f.ok(await caller.get(path, params=query))
        seen.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None or not page["data"]:  # the change feed always offers a cursor
            return seen


@CALLERS
async def test_post_lists_and_the_change_feed_are_filtered(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, make: Any, role: str
) -> None:
    w = await _world(client, session)
    async with make(app, client, w["a"], role) as caller:
        listed = await _all_pages(caller, "/v1/posts")
        assert sorted(p["id"] for p in listed) == sorted(w["posts_a"])
        feed = await _all_pages(caller, "/v1/posts", sort="updated_at")
        assert sorted(p["id"] for p in feed) == sorted(w["posts_a"])
        other = await f.ok(await caller.get("/v1/posts", params={"campaign_id": w["b"]}))
        assert other["data"] == []
        exported = (await caller.get("/v1/posts.csv")).text
        assert sorted(line.split(",")[0] for line in exported.splitlines()[1:]) == sorted(
            w["posts_a"]
        )
    everything = await f.ok(await client.get("/v1/posts"))  # the org's admin key: all
    assert len(everything["data"]) == 3


@CALLERS
async def test_ready_totals_and_creators_are_filtered(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, make: Any, role: str
) -> None:
    w = await _world(client, session)
    async with make(app, client, w["a"], role) as caller:
        ready = await f.ok(await caller.get("/v1/payouts/ready"))
        assert [(r["posts"], r["amount"]) for r in ready["data"]] == [(2, "7.00")]
        creators = await _all_pages(caller, "/v1/creators")
        assert {c["id"] for c in creators} == w["creators_a"]
    ready = await f.ok(await client.get("/v1/payouts/ready"))
    assert sum(r["posts"] for r in ready["data"]) == 3


@CALLERS
async def test_payout_batches_within_the_caller_s_campaigns(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, make: Any, role: str
) -> None:
    w = await _world(client, session)
    theirs = await f.ok(await client.post("/v1/payouts", json={"post_ids": [w["post_b"]]}), 201)
    async with make(app, client, w["a"], role) as caller:
        # Another campaign's batch: not listed, and 404 wherever it is named.
        assert (await f.ok(await caller.get("/v1/payouts")))["data"] == []
        for method, path in (
            ("GET", f"/v1/payouts/{theirs['id']}"),
            ("GET", f"/v1/payouts/{theirs['id']}/export.csv"),
            ("GET", f"/v1/payouts/{theirs['id']}/summary.csv"),
            ("POST", f"/v1/payouts/{theirs['id']}/mark-paid"),
            ("POST", f"/v1/payouts/{theirs['id']}/cancel"),
        ):
            body = {"payout_reference": "x"} if path.endswith("mark-paid") else None
            answer = await caller.request(method, path, json=body)
            assert answer.status_code == 404, (method, path, answer.text)
        # Another campaign's post cannot be put in a batch; everything ready is theirs only.
        refused = await caller.post("/v1/payouts", json={"post_ids": [w["post_b"]]})
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "posts_not_ready"
        await f.ok(await client.post(f"/v1/payouts/{theirs['id']}/cancel"))
        mine = await f.ok(await caller.post("/v1/payouts", json={}), 201)
        assert (mine["posts"], [c["amount"] for c in mine["currencies"]]) == (2, ["7.00"])
        listed = await f.ok(await caller.get("/v1/payouts"))
        assert [p["id"] for p in listed["data"]] == [mine["id"]]
        export = await caller.get(f"/v1/payouts/{mine['id']}/export.csv")
        assert export.status_code == 200
        assert w["post_b"] not in export.text
        paid = await f.ok(
            await caller.post(
                f"/v1/payouts/{mine['id']}/mark-paid", json={"payout_reference": "r1"}
            )
        )
        assert paid["status"] == "paid"
    # B's post was never taken: it is still ready for the organization.
    ready = await f.ok(await client.get("/v1/payouts/ready"))
    assert [(r["posts"], r["amount"]) for r in ready["data"]] == [(1, "50.00")]


async def test_a_restricted_viewer_key_cannot_make_or_pay_batches(
    app: Any, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client, session)
    async with as_restricted_key(app, client, w["a"], "viewer") as viewer:
        assert len((await f.ok(await viewer.get("/v1/payouts/ready")))["data"]) == 1
        answer = await viewer.post("/v1/payouts", json={})
        assert answer.status_code == 403, answer.text
        assert (await viewer.post("/v1/refresh-runs")).status_code == 403


@pytest.mark.parametrize(
    ("make", "role"),
    [(as_member, "campaign_admin"), (as_restricted_key, "editor")],
    ids=["member-campaign_admin", "key-restricted"],
)
async def test_refresh_runs_and_bulk_paste_are_narrowed(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, make: Any, role: str
) -> None:
    w = await _world(client, session)
    org_wide = await f.ok(await client.post("/v1/refresh-runs"), 202)
    imported_b = await f.ok(
        await client.post(
            f"/v1/campaigns/{w['b']}/posts/bulk", json={"lines": [{"url": TIKTOK.format("76")}]}
        ),
        202,
    )
    async with make(app, client, w["a"], role) as caller:
        run = await f.ok(await caller.post("/v1/refresh-runs"), 202)
        assert run["scope"]["campaign_id"] == w["a"]
        other = await caller.post("/v1/refresh-runs", json={"campaign_id": w["b"]})
        assert other.status_code == 422
        assert other.json()["code"] == "campaign_not_found"
        runs = await f.ok(await caller.get("/v1/refresh-runs"))
        assert [r["id"] for r in runs["data"]] == [run["id"]]
        assert (await caller.get(f"/v1/refresh-runs/{org_wide['id']}")).status_code == 404
        await f.ok(await caller.get(f"/v1/refresh-runs/{run['id']}"))
        line = {"lines": [{"url": TIKTOK.format("77")}]}
        mine = await f.ok(await caller.post(f"/v1/campaigns/{w['a']}/posts/bulk", json=line), 202)
        await f.ok(await caller.get(f"/v1/post-imports/{mine['id']}"))
        assert (
            await caller.post(f"/v1/campaigns/{w['b']}/posts/bulk", json=line)
        ).status_code == 404
        assert (await caller.get(f"/v1/post-imports/{imported_b['id']}")).status_code == 404


def test_within_is_the_campaigns_the_action_is_allowed_on() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    roles = {a: CampaignRole.CAMPAIGN_EDITOR, b: CampaignRole.CAMPAIGN_ADMIN}
    member = Actor(Role.VIEWER, campaign_roles=roles)
    assert within(member, Action.CAMPAIGN_READ) == frozenset({a, b})
    assert within(member, Action.ROSTER_MANAGE) == frozenset({b})
    assert within(Actor(Role.EDITOR, frozenset({a})), Action.POSTS_EDIT) == frozenset({a})
    assert within(Actor(Role.EDITOR, frozenset({a})), Action.POST_MARK_PAID) == frozenset()
    assert within(Actor(Role.VIEWER), Action.CAMPAIGN_READ) is None  # every campaign
