"""Adding posts, listing them, and the lifecycle actions the API enforces (analytics and the
change feed have their own files)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Post
from tests import factories as f

TIKTOK_URL = "https://www.tiktok.com/@scout2015/video/6718335390845095173?is_from_webapp=1"


async def _set(session: AsyncSession, post_id: str, **values: Any) -> None:
    """Put a post in the state the tracking engine would have left it in."""
    await session.execute(update(Post).where(Post.id == post_id).values(**values))
    await session.commit()


async def test_a_tiktok_url_finds_its_member_creator_and_inherits_the_default_tier(
    client: httpx.AsyncClient,
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=TIKTOK_URL)
    assert p["platform"] == "tiktok"
    assert p["platform_post_id"] == "6718335390845095173"
    assert p["creator_id"] == s["tiktok"]["id"]
    assert p["cpm_tier_id"] == s["tier"]["id"]
    assert p["status"] == "tracking"
    assert p["url"] == "https://www.tiktok.com/@scout2015/video/6718335390845095173"
    for field in ("views", "likes", "comments", "consecutive_failures"):
        assert p[field] == 0
    for field in (
        "published_at",
        "locked_views",
        "earnings",
        "rejection_code",
        "last_refreshed_at",
        "last_error",
    ):
        assert p[field] is None
    assert await f.ok(await client.get(f"/v1/posts/{p['id']}")) == p
    events = (await f.ok(await client.get(f"/v1/posts/{p['id']}/events")))["data"]
    assert [(e["from_status"], e["to_status"], e["code"]) for e in events] == [
        (None, "tracking", "created")
    ]


async def test_an_instagram_url_stores_the_shortcode_and_needs_the_creator(
    client: httpx.AsyncClient,
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    url = "https://www.instagram.com/reel/DF5s0duxDts/?igsh=abc"
    missing = await client.post(f"/v1/campaigns/{cid}/posts", json={"url": url})
    assert (missing.status_code, missing.json()["code"]) == (422, "creator_required")
    p = await f.post(client, cid, url=url, creator_id=s["instagram"]["id"])
    assert (p["platform"], p["platform_post_id"]) == ("instagram", "DF5s0duxDts")
    assert p["url"] == "https://www.instagram.com/p/DF5s0duxDts/"


async def test_posts_can_be_added_by_platform_and_id(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    media = await f.post(
        client,
        cid,
        platform="instagram",
        platform_post_id="3565077699422862188",
        creator_id=s["instagram"]["id"],
    )
    assert media["platform_post_id"] == "DF5s0duxDts"
    tiktok = await f.post(
        client, cid, platform="tiktok", platform_post_id="42", creator_id=s["tiktok"]["id"]
    )
    assert tiktok["platform_post_id"] == "42"
    bad = await client.post(
        f"/v1/campaigns/{cid}/posts",
        json={"platform": "tiktok", "platform_post_id": "abc", "creator_id": s["tiktok"]["id"]},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_post_id")
    both = await client.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": TIKTOK_URL, "platform": "tiktok", "platform_post_id": "1"},
    )
    assert both.status_code == 422
    # The old name is refused rather than ignored: one meaning per field name.
    old = await client.post(
        f"/v1/campaigns/{cid}/posts",
        json={"platform": "tiktok", "post_id": "1", "creator_id": s["tiktok"]["id"]},
    )
    assert old.status_code == 422


async def test_the_same_video_twice_in_a_campaign_is_a_conflict(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    await f.post(client, cid, url=TIKTOK_URL)
    again = await client.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": "m.tiktok.com/v/6718335390845095173.html", "creator_id": s["tiktok"]["id"]},
    )
    assert (again.status_code, again.json()["code"]) == (409, "post_exists")


async def test_a_creator_who_is_not_a_member_cannot_post(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    stranger = await client.post(
        f"/v1/campaigns/{cid}/posts", json={"url": "https://www.tiktok.com/@nobody/video/1"}
    )
    assert (stranger.status_code, stranger.json()["code"]) == (409, "creator_not_member")
    assert "@nobody" in stranger.json()["detail"]
    outsider = await f.creator(client, "outsider")
    by_id = await client.post(
        f"/v1/campaigns/{cid}/posts", json={"url": "https://www.tiktok.com/@outsider/video/1"}
    )
    assert (by_id.status_code, by_id.json()["code"]) == (409, "creator_not_member")
    mismatch = await client.post(
        f"/v1/campaigns/{cid}/posts", json={"url": TIKTOK_URL, "creator_id": s["instagram"]["id"]}
    )
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "platform_mismatch")
    assert outsider["id"]


async def test_an_explicit_tier_must_belong_to_the_campaign(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    gold = await f.tier(client, cid, cpm="9", name="Gold")
    p = await f.post(client, cid, url=TIKTOK_URL, cpm_tier_id=gold["id"])
    assert p["cpm_tier_id"] == gold["id"]
    other = await f.campaign(client)
    foreign = await f.tier(client, other["id"])
    bad = await client.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": "https://www.tiktok.com/@scout2015/video/2", "cpm_tier_id": foreign["id"]},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "cpm_tier_not_in_campaign")


async def test_an_ended_campaign_takes_no_posts(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    await client.patch(f"/v1/campaigns/{cid}", json={"status": "ended"})
    response = await client.post(f"/v1/campaigns/{cid}/posts", json={"url": TIKTOK_URL})
    assert (response.status_code, response.json()["code"]) == (409, "campaign_ended")


async def test_a_campaign_past_its_end_date_takes_no_posts(client: httpx.AsyncClient) -> None:
    """Issue 22 item 13: still `active` as set, but its last day (UTC) was yesterday."""
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    today = datetime.now(UTC).date()
    await f.ok(await client.patch(f"/v1/campaigns/{cid}", json={"ends_on": str(today)}))
    ok = await client.post(f"/v1/campaigns/{cid}/posts", json={"url": TIKTOK_URL})
    assert ok.status_code == 201, ok.text  # its last day still counts
    yesterday = today - timedelta(days=1)
    await f.ok(await client.patch(f"/v1/campaigns/{cid}", json={"ends_on": str(yesterday)}))
    response = await client.post(
        f"/v1/campaigns/{cid}/posts", json={"url": "https://www.tiktok.com/@scout2015/video/2"}
    )
    assert (response.status_code, response.json()["code"]) == (409, "campaign_ended")
    assert response.headers["content-type"] == "application/problem+json"
    assert str(yesterday) in response.json()["detail"]


async def test_short_links_are_followed_on_the_platform_only(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    insta = await f.post(
        client,
        cid,
        url="https://www.instagram.com/share/reel/BAabc123/",
        creator_id=s["instagram"]["id"],
    )
    assert insta["platform"] == "instagram"
    # The sandbox's TikTok short links lead to @sandbox_user's videos.
    author = await f.creator(client, "sandbox_user", "tiktok")
    await f.member(client, cid, author["id"])
    tiktok = await f.post(
        client, cid, url="https://vm.tiktok.com/ZMabc123/", creator_id=author["id"]
    )
    assert tiktok["platform"] == "tiktok"
    assert tiktok["platform_post_id"].isdigit()
    for code in ("EVIL", "LOOP"):
        refused = await client.post(
            f"/v1/campaigns/{cid}/posts",
            json={"url": f"https://vm.tiktok.com/{code}/", "creator_id": author["id"]},
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "short_link_invalid"), code


async def _many_posts(
    client: httpx.AsyncClient, n: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    made = [
        await f.post(client, cid, url=f"https://www.tiktok.com/@scout2015/video/{i + 1}")
        for i in range(n)
    ]
    return s, made


async def test_every_post_appears_exactly_once_across_pages_in_every_sort(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s, made = await _many_posts(client, 7)
    for i, p in enumerate(made):
        await _set(session, p["id"], views=(i * 37) % 5 * 100)  # ties on views, broken by id
    cid = s["campaign"]["id"]
    for sort in ("created_at", "-created_at", "views", "-views", "published_at", "-published_at"):
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = await f.ok(await client.get(f"/v1/campaigns/{cid}/posts", params=params))
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(p["id"] for p in seen) == sorted(p["id"] for p in made), sort
        key = sort.lstrip("-")
        values = [(p["views"] if key == "views" else p["created_at"], p["id"]) for p in seen]
        assert values == sorted(values, reverse=sort.startswith("-")), sort


async def test_post_lists_filter_by_status_platform_creator_and_campaign(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s, made = await _many_posts(client, 3)
    insta = await f.post(
        client,
        s["campaign"]["id"],
        url="https://www.instagram.com/p/ABCDEF/",
        creator_id=s["instagram"]["id"],
    )
    await _set(session, made[0]["id"], status="rejected")
    await _set(session, made[1]["id"], status="pending_cpm", locked_views=1500)
    other = await f.campaign(client)

    async def ids(path: str, **params: Any) -> set[str]:
        return {p["id"] for p in (await f.ok(await client.get(path, params=params)))["data"]}

    cid = s["campaign"]["id"]
    assert await ids(f"/v1/campaigns/{cid}/posts", status="rejected") == {made[0]["id"]}
    assert await ids("/v1/posts", status=["rejected", "pending_cpm"]) == {
        made[0]["id"],
        made[1]["id"],
    }
    assert await ids("/v1/posts", platform="instagram") == {insta["id"]}
    assert await ids("/v1/posts", creator_id=s["tiktok"]["id"]) == {p["id"] for p in made}
    assert await ids("/v1/posts", campaign_id=other["id"]) == set()
    assert await ids("/v1/posts", published_from="2000-01-01T00:00:00Z") == {
        p["id"] for p in [*made, insta]
    }
    assert await ids("/v1/posts", published_to="2000-01-01T00:00:00Z") == set()
    bad = await client.get("/v1/posts", params={"status": "lost"})
    assert bad.status_code == 422


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cursor=st.text(max_size=80))
async def test_a_forged_cursor_is_a_clear_422(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/v1/posts", params={"cursor": cursor, "sort": "views"})
    assert response.status_code in (200, 422)
    if response.status_code == 422:
        assert response.headers["content-type"] == "application/problem+json"


async def test_mark_paid_needs_a_finalized_post_and_happens_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=TIKTOK_URL)
    early = await client.post(f"/v1/posts/{p['id']}/mark-paid")
    assert (early.status_code, early.json()["code"]) == (409, "post_not_finalized")
    await _set(session, p["id"], status="finalized", locked_views=2000, earnings=Decimal("9.00"))
    paid = await f.ok(
        await client.post(f"/v1/posts/{p['id']}/mark-paid", json={"payout_reference": "PAYOUT-7"})
    )
    assert (paid["status"], paid["payout_reference"], paid["earnings"]) == (
        "paid",
        "PAYOUT-7",
        "9.00",
    )
    assert paid["paid_at"] is not None
    # A retry with the same reference (a timeout, say) answers the paid post; another
    # reference, or none, is a second payment: refused.
    again = await f.ok(
        await client.post(f"/v1/posts/{p['id']}/mark-paid", json={"payout_reference": "PAYOUT-7"})
    )
    assert (again["status"], again["paid_at"]) == ("paid", paid["paid_at"])
    for body in ({"payout_reference": "PAYOUT-8"}, None):
        twice = await client.post(f"/v1/posts/{p['id']}/mark-paid", json=body)
        assert (twice.status_code, twice.json()["code"]) == (409, "post_already_paid")
    no_reject = await client.post(f"/v1/posts/{p['id']}/reject", json={"reason": "late"})
    assert (no_reject.status_code, no_reject.json()["code"]) == (409, "post_paid")
    events = (await f.ok(await client.get(f"/v1/posts/{p['id']}/events")))["data"]
    assert [e["code"] for e in events] == ["created", "marked_paid"]


async def test_assigning_a_tier_to_a_pending_post_finalizes_it_with_its_locked_views(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client, with_default_tier=False)
    cid = s["campaign"]["id"]
    capped = await f.tier(client, cid, cpm="4.5", cap="5.00", name="Capped")
    p = await f.post(client, cid, url=TIKTOK_URL)
    assert p["cpm_tier_id"] is None
    await _set(session, p["id"], status="pending_cpm", locked_views=1234, views=5000)
    done = await f.ok(
        await client.patch(f"/v1/posts/{p['id']}", json={"cpm_tier_id": s["tier"]["id"]})
    )
    assert (done["status"], done["locked_views"], done["earnings"]) == ("finalized", 1234, "5.55")
    assert done["finalized_at"] is not None
    locked = await client.patch(f"/v1/posts/{p['id']}", json={"cpm_tier_id": capped["id"]})
    assert (locked.status_code, locked.json()["code"]) == (409, "post_locked")
    events = (await f.ok(await client.get(f"/v1/posts/{p['id']}/events")))["data"]
    assert [(e["from_status"], e["to_status"], e["code"]) for e in events][-1] == (
        "pending_cpm",
        "finalized",
        "tier_assigned",
    )


async def test_a_tracking_post_just_takes_the_tier_and_can_drop_it(
    client: httpx.AsyncClient,
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=TIKTOK_URL)
    cleared = await f.ok(await client.patch(f"/v1/posts/{p['id']}", json={"cpm_tier_id": None}))
    assert (cleared["status"], cleared["cpm_tier_id"]) == ("tracking", None)
    foreign = await f.tier(client, (await f.campaign(client))["id"])
    bad = await client.patch(f"/v1/posts/{p['id']}", json={"cpm_tier_id": foreign["id"]})
    assert (bad.status_code, bad.json()["code"]) == (422, "cpm_tier_not_in_campaign")


@pytest.mark.parametrize("start", ["tracking", "pending_cpm", "finalized"])
async def test_reject_and_restore_return_the_post_to_where_it_was(
    client: httpx.AsyncClient, session: AsyncSession, start: str
) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=TIKTOK_URL)
    locked = {"locked_views": 3000, "earnings": Decimal("13.50")} if start == "finalized" else {}
    await _set(session, p["id"], status=start, **locked)
    rejected = await f.ok(
        await client.post(f"/v1/posts/{p['id']}/reject", json={"reason": "Bought views"})
    )
    assert (rejected["status"], rejected["rejection_code"], rejected["rejection_reason"]) == (
        "rejected",
        "manual",
        "Bought views",
    )
    again = await client.post(f"/v1/posts/{p['id']}/reject", json={"reason": "x"})
    assert (again.status_code, again.json()["code"]) == (409, "post_already_rejected")
    restored = await f.ok(
        await client.post(f"/v1/posts/{p['id']}/restore", json={"reason": "Checked"})
    )
    assert restored["status"] == start
    assert restored["rejection_code"] is None
    if start == "finalized":
        assert (restored["locked_views"], restored["earnings"]) == (3000, "13.50")
    not_rejected = await client.post(f"/v1/posts/{p['id']}/restore")
    assert (not_rejected.status_code, not_rejected.json()["code"]) == (409, "post_not_rejected")
    events = (await f.ok(await client.get(f"/v1/posts/{p['id']}/events")))["data"]
    assert [(e["to_status"], e["reason"]) for e in events[-2:]] == [
        ("rejected", "Bought views"),
        (start, "Checked"),
    ]
    assert all(e["actor_key_id"] for e in events)


async def test_a_reason_is_required_to_reject(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    p = await f.post(client, s["campaign"]["id"], url=TIKTOK_URL)
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        assert (await client.post(f"/v1/posts/{p['id']}/reject", json=body)).status_code == 422
