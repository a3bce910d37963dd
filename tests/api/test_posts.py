"""Adding posts, listing them, and the lifecycle actions the API enforces."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from sqlalchemy import make_url, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import create_engine
from app.models import Post
from app.repositories import api_keys
from app.repositories import posts as posts_repo
from app.settings import Settings
from tests import factories as f
from tests.conftest import committed_client

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


async def test_campaign_analytics_add_up_by_status_creator_and_tier(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    capped = await f.tier(client, cid, cpm="10.00", cap="3.00", name="Capped")
    other = await f.creator(client, "second", "tiktok")
    await f.member(client, cid, other["id"], s["tier"]["id"])

    def video(n: int, handle: str = "scout2015") -> str:
        return f"https://www.tiktok.com/@{handle}/video/{7000000000000000000 + n}"

    # (creator handle, state): two tracking posts, one capped; finalized, paid, rejected.
    tracking = await f.post(client, cid, url=video(1))
    tracking_capped = await f.post(client, cid, url=video(2), cpm_tier_id=capped["id"])
    finalized = await f.post(client, cid, url=video(3, "second"))
    paid = await f.post(client, cid, url=video(4, "second"))
    rejected = await f.post(client, cid, url=video(5))
    await _set(session, tracking["id"], views=10_000, likes=10, comments=1, shares=None)
    await _set(session, tracking_capped["id"], views=1_000_000, likes=20, comments=2, shares=5)
    await _set(
        session, finalized["id"], status="finalized", views=3_000, likes=30, comments=3,
        shares=1, locked_views=2_000, earnings=Decimal("9.00"),
    )  # fmt: skip
    await _set(
        session, paid["id"], status="paid", views=4_000, likes=40, comments=4, shares=2,
        locked_views=4_000, earnings=Decimal("18.00"),
    )  # fmt: skip
    await _set(session, rejected["id"], status="rejected", views=500, likes=50, comments=5)

    report = await f.ok(await client.get(f"/v1/campaigns/{cid}/analytics"))
    # Every status, zeros included.
    assert report["posts_by_status"] == {
        "tracking": 2,
        "held": 0,
        "pending_cpm": 0,
        "finalized": 1,
        "paid": 1,
        "rejected": 1,
    }
    assert report["totals"] == {  # one scope: every post, rejected included
        "views": 1_017_500,
        "likes": 150,
        "comments": 15,
        "shares": 8,
    }
    # 10,000 views at 4.50 = 45.00, plus 1,000,000 at 10.00 capped at 3.00.
    assert report["earnings"] == {"finalized": "9.00", "paid": "18.00", "projected": "48.00"}
    assert [(c["handle"], c["posts"], c["views"], c["earnings"]) for c in report["creators"]] == [
        ("scout2015", 3, 1_010_500, "0.00"),
        ("second", 2, 7_000, "27.00"),
    ]
    assert [p["id"] for p in report["top_posts"]] == [
        tracking_capped["id"],
        tracking["id"],
        paid["id"],
        finalized["id"],
        rejected["id"],
    ]


# The change feed's horizon (issue 22 item 11)


async def _hold_back(client: httpx.AsyncClient) -> float:
    answer = await client.get("/v1/posts", params={"sort": "updated_at"})
    assert answer.status_code == 200, answer.text
    return float(answer.headers["Change-Feed-Hold-Back"])


async def test_the_feed_says_how_far_it_is_held_back_and_by_what(
    settings: Settings, engine: AsyncEngine, committed: async_sessionmaker[AsyncSession]
) -> None:
    """Settled, the feed stops CHANGE_FEED_SETTLE_SECONDS behind now; an open write of this
    database holds it back further, visibly (a header and a metric); a reader in a
    transaction, or a writer in another database, does not."""
    async with committed() as session:
        _, key = await api_keys.create_organization(session, "Feed")
        await session.commit()
    settle = settings.change_feed_settle_seconds
    async with committed_client(settings, engine, key) as client:
        assert await _hold_back(client) == pytest.approx(settle, abs=0.5)
        assert REGISTRY.get_sample_value("viewledger_change_feed_hold_back_seconds") == (
            pytest.approx(settle, abs=0.5)
        )
        elsewhere = create_engine(
            settings.model_copy(
                update={
                    "database_url": make_url(settings.database_url)
                    .set(database="postgres")
                    .render_as_string(hide_password=False)
                }
            )
        )
        try:
            async with engine.connect() as reader, elsewhere.connect() as other_database:
                await reader.begin()
                await reader.execute(text("SELECT count(*) FROM posts"))
                await other_database.begin()
                await other_database.execute(text("SELECT txid_current()"))
                await asyncio.sleep(settle + 1)
                assert await _hold_back(client) == pytest.approx(settle, abs=0.5)
        finally:
            await elsewhere.dispose()
        async with engine.connect() as writer:
            await writer.begin()
            await writer.execute(text("SELECT txid_current()"))  # holds a transaction id
            await asyncio.sleep(settle + 1.5)
            held = await _hold_back(client)
            assert held >= settle + 1.5
            metric = REGISTRY.get_sample_value("viewledger_change_feed_hold_back_seconds")
            assert metric == pytest.approx(held, abs=0.001)
            await writer.rollback()
        assert await _hold_back(client) == pytest.approx(settle, abs=0.5)
        # Sorted any other way, a list is not the feed and says nothing of it.
        other = await client.get("/v1/posts")
        assert "Change-Feed-Hold-Back" not in other.headers


async def test_the_services_own_idle_transaction_holds_the_feed_back_only_until_its_timeout(
    settings: Settings, committed: async_sessionmaker[AsyncSession]
) -> None:
    """A transaction one of the service's connections leaves open and idle (a bug, a hung
    call inside it) is ended by the server after DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS, and
    the feed moves on."""
    own = settings.model_copy(update={"db_idle_in_transaction_timeout_seconds": 1})
    stalled = create_engine(own)
    try:
        async with stalled.connect() as connection:
            await connection.begin()
            await connection.execute(text("SELECT txid_current()"))
            async with committed() as session:
                assert await posts_repo.feed_hold_back(session, timedelta(0)) > 0
            await asyncio.sleep(2.5)
            async with committed() as session:  # the stalled write is gone
                assert await posts_repo.feed_hold_back(session, timedelta(0)) < 0.5
            with pytest.raises(DBAPIError):
                await connection.execute(text("SELECT 1"))
    finally:
        await stalled.dispose()
