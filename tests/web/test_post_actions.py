"""`POST /app/posts/act`, the dashboard's one way to act on posts: each operation is the API's
(its service, its permission table under its operation id, its audit record), a forged
request is refused as the API refuses it, and the answer is each post's outcome."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent, Post, RefreshRun
from tests import factories as f
from tests.conftest import MakeOrg
from tests.web.session_kit import hold, pending_cpm, signed_in

ACT = "/app/posts/act"


def _url(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7_320_000_000_000_000_000 + n}"


async def _posts(
    client: httpx.AsyncClient, count: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    s = await f.setup_campaign(client, with_default_tier=False)
    made = [await f.post(client, s["campaign"]["id"], url=_url(n)) for n in range(count)]
    return s, made


async def _status(client: httpx.AsyncClient, post_id: str) -> str:
    return str((await f.ok(await client.get(f"/v1/posts/{post_id}")))["status"])


async def test_clearing_a_hold_decides_the_post_and_records_what_the_api_records(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s, (one, two) = await _posts(client, 2)
    for p in (one, two):
        await hold(session, p, views=2_000)
        await f.ok(
            await client.patch(f"/v1/posts/{p['id']}", json={"cpm_tier_id": s["tier"]["id"]})
        )
    admin = await signed_in(app, client, "ops@example.com")
    form = {"operation": "clear_hold", "code": "author_mismatch", "reason": "Checked by hand."}
    answer = await admin.post(ACT, data={**form, "post_id": [one["id"], two["id"]]})
    assert answer.status_code == 200
    assert answer.headers["HX-Trigger"] == "posts-changed"
    assert answer.text.count("Done.") == 2
    assert await _status(client, one["id"]) == "finalized"
    audited = await session.scalar(select(func.count()).where(AuditEvent.action == "hold.cleared"))
    assert audited == 2


async def test_a_held_post_is_decided_when_its_last_hold_is_cleared_not_before(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s, (p,) = await _posts(client, 1)
    await hold(session, p, "author_mismatch", views=2_000)
    await hold(session, p, "outside_campaign_window", views=2_000)
    await f.ok(await client.patch(f"/v1/posts/{p['id']}", json={"cpm_tier_id": s["tier"]["id"]}))
    admin = await signed_in(app, client, "ops@example.com")
    form = {"operation": "clear_hold", "post_id": p["id"], "reason": "Checked."}
    first = await admin.post(ACT, data={**form, "code": "author_mismatch"})
    assert "Done." in first.text
    assert await _status(client, p["id"]) == "held"  # another hold is still open
    second = await admin.post(ACT, data={**form, "code": "outside_campaign_window"})
    assert "Done." in second.text
    post = await f.ok(await client.get(f"/v1/posts/{p['id']}"))
    assert (post["status"], post["earnings"]) == ("finalized", "9.00")


async def test_assigning_a_tier_to_a_pending_cpm_post_finalizes_it(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s, (p,) = await _posts(client, 1)
    await pending_cpm(session, p, views=1_500)
    admin = await signed_in(app, client, "ops@example.com")
    form = {"operation": "assign_tier", "post_id": p["id"], "cpm_tier_id": s["tier"]["id"]}
    assert "Done." in (await admin.post(ACT, data=form)).text
    post = await f.ok(await client.get(f"/v1/posts/{p['id']}"))
    assert (post["status"], post["earnings"]) == ("finalized", "6.75")


async def test_a_decided_posts_tier_is_locked_from_the_dashboard_too(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s, (p,) = await _posts(client, 1)
    await pending_cpm(session, p, views=1_500)
    admin = await signed_in(app, client, "ops@example.com")
    form = {"operation": "assign_tier", "post_id": p["id"], "cpm_tier_id": s["tier"]["id"]}
    assert "Done." in (await admin.post(ACT, data=form)).text
    other = await f.tier(client, s["campaign"]["id"], cpm="9.00", name="Richer")
    again = await admin.post(ACT, data={**form, "cpm_tier_id": other["id"]})
    assert "Done." not in again.text
    post = await f.ok(await client.get(f"/v1/posts/{p['id']}"))
    assert (post["cpm_tier_id"], post["earnings"]) == (s["tier"]["id"], "6.75")


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"operation": "reject", "reason": "   "}, "Give a reason."),
        ({"operation": "reject", "reason": "x" * 1001}, "at most 1000 characters"),
        ({"operation": "clear_hold", "reason": "ok"}, "Name the hold to clear."),
        ({"operation": "resolve_flag", "code": "nope", "note": "ok"}, "Name the flag"),
        ({"operation": "assign_tier"}, "Choose a tier."),
        ({"operation": "explode"}, "Choose what to do."),
    ],
)
async def test_a_request_the_api_would_refuse_says_what_to_fix_and_changes_nothing(
    app: object, client: httpx.AsyncClient, form: dict[str, str], says: str
) -> None:
    _, (p,) = await _posts(client, 1)
    admin = await signed_in(app, client, "ops@example.com")
    answer = await admin.post(ACT, data={**form, "post_id": p["id"]})
    assert answer.status_code == 200
    assert says in answer.text
    assert "HX-Trigger" not in answer.headers
    assert await _status(client, p["id"]) == "tracking"


async def test_another_organizations_post_reads_not_found_and_is_not_touched(
    app: object, client: httpx.AsyncClient, make_org: MakeOrg
) -> None:
    other = await make_org("Other brand")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://test",
        headers={"Authorization": f"Bearer {other.key}"},
    ) as theirs:
        _, (p,) = await _posts(theirs, 1)
        admin = await signed_in(app, client, "ops@example.com")
        form = {"operation": "reject", "reason": "forged", "post_id": p["id"]}
        answer = await admin.post(ACT, data=form)
        assert "No post with that id." in answer.text
        assert await _status(theirs, p["id"]) == "tracking"


async def test_a_member_acts_only_inside_their_campaigns(
    app: object, client: httpx.AsyncClient
) -> None:
    """A campaign editor may reject in their campaign; a post of a campaign outside their
    reach reads as not found, and a member with no role anywhere is refused everything."""
    _, (mine,) = await _posts(client, 1)
    s2 = await f.campaign(client, name="Not theirs")
    creator = await f.creator(client, "other_one")
    await f.member(client, s2["id"], creator["id"])
    theirs = await f.post(
        client, s2["id"], url="https://www.tiktok.com/@other_one/video/7320000000000009999"
    )
    mine_campaign = (await f.ok(await client.get(f"/v1/posts/{mine['id']}")))["campaign_id"]
    editor = await signed_in(
        app, client, "ed@example.com", "member", {mine_campaign: "campaign_editor"}
    )
    nobody = await signed_in(app, client, "viewer@example.com", "member")
    form = {"operation": "reject", "reason": "spam"}
    answer = await editor.post(ACT, data={**form, "post_id": [theirs["id"], mine["id"]]})
    assert answer.text.count("No post with that id.") == 1
    assert answer.text.count("Done.") == 1
    assert await _status(client, theirs["id"]) == "tracking"
    assert await _status(client, mine["id"]) == "rejected"
    refused = await nobody.post(ACT, data={"operation": "restore", "post_id": mine["id"]})
    assert "No post with that id." in refused.text
    assert "HX-Trigger" not in refused.headers
    assert await _status(client, mine["id"]) == "rejected"


async def test_a_write_without_the_csrf_token_is_refused(
    app: object, client: httpx.AsyncClient
) -> None:
    _, (p,) = await _posts(client, 1)
    admin = await signed_in(app, client, "ops@example.com")
    del admin.headers["X-CSRF-Token"]
    answer = await admin.post(ACT, data={"operation": "reject", "reason": "x", "post_id": p["id"]})
    assert answer.status_code == 403
    assert await _status(client, p["id"]) == "tracking"


async def test_refresh_makes_one_run_per_campaign_a_member_can_see(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, (one, two) = await _posts(client, 2)
    campaign_id = (await f.ok(await client.get(f"/v1/posts/{one['id']}")))["campaign_id"]
    editor = await signed_in(
        app, client, "ed@example.com", "member", {campaign_id: "campaign_editor"}
    )
    answer = await editor.post(
        ACT, data={"operation": "refresh", "post_id": [one["id"], two["id"]]}
    )
    assert answer.text.count("Refresh queued") == 2
    runs = await f.ok(await editor.get("/v1/refresh-runs"))
    assert [(r["scope"]["campaign_id"], r["scope"]["post_ids_count"]) for r in runs["data"]] == [
        (campaign_id, 2)
    ]
    assert await session.scalar(select(func.count()).select_from(RefreshRun)) == 1
    assert await session.scalar(select(func.count()).select_from(Post)) == 2
