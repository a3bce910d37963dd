"""Campaign analytics: totals by status, creator and tier, projected earnings and their
rounding, and the daily views series, as the API reports them."""

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.models import CampaignDailyViews, Post
from app.platforms.sandbox import Sandbox
from app.workers.refresher import Refresher
from tests import factories as f
from tests.api.conftest import ClientFor
from tests.api.test_contract import video
from tests.api.test_posts import _set
from tests.engine_kit import SM, Clock, find_video, seed


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


async def test_projected_earnings_count_only_posts_at_the_minimum_and_baselines_are_apart(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)  # tier 4.50, default minimum 1,000 views
    cid = s["campaign"]["id"]
    below = await f.post(client, cid, url=video(1))
    at_min = await f.post(client, cid, url=video(2))
    await session.execute(update(Post).where(Post.id == below["id"]).values(views=999))
    await session.execute(update(Post).where(Post.id == at_min["id"]).values(views=1000))
    today = datetime.now(UTC).date()
    session.add_all(
        [
            # Yesterday both posts were first fetched (1,500 views between them), today the
            # one gained 499 more.
            CampaignDailyViews(
                campaign_id=uuid.UUID(cid),
                day=today - timedelta(days=1),
                views_gained=1500,
                baseline_views=1500,
            ),
            CampaignDailyViews(
                campaign_id=uuid.UUID(cid), day=today, views_gained=499, baseline_views=0
            ),
        ]
    )
    await session.commit()
    report = await f.ok(await client.get(f"/v1/campaigns/{cid}/analytics", params={"days": 2}))
    assert report["earnings"]["projected"] == "4.50"  # 1,000 x 4.50 / 1000; 999 counts 0
    assert [
        (d["day"], d["baseline_views"], d["views_gained"], d["total_views"])
        for d in report["daily_views"]
    ] == [
        ((today - timedelta(days=1)).isoformat(), 1500, 0, 1500),
        (today.isoformat(), 0, 499, 1999),
    ]
    assert report["totals"]["views"] == report["daily_views"][-1]["total_views"]
    assert isinstance(date.fromisoformat(report["daily_views"][0]["day"]), date)


async def test_analytics_follow_the_snapshots(
    committed: SM,
    api: ClientFor,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    clock.advance(hours=-8)  # both fetches in the past, so both days are in the window
    vid = find_video(
        Platform.TIKTOK,
        sandbox.anchor,
        lambda v: (
            timedelta(days=1) < clock.now - v.created_at < timedelta(days=3)
            and v.counts_at(clock.now).views < v.counts_at(clock.now + timedelta(days=1)).views
        ),
    )
    s = await seed(committed, [(Platform.TIKTOK, vid)], clock.now)
    await make_refresher().refresh_due(Platform.TIKTOK)
    first = sandbox.video(Platform.TIKTOK, vid).counts_at(clock.now).views
    first_day = clock.now.date()
    clock.advance(hours=7)
    await make_refresher().refresh_due(Platform.TIKTOK)
    second = sandbox.video(Platform.TIKTOK, vid).counts_at(clock.now).views
    post_id = s.posts[vid]
    async with await api(s) as client:
        hourly = (
            await client.get(
                f"/v1/posts/{post_id}/stats",
                params={
                    "bucket": "hour",
                    "from": (clock.now - timedelta(days=1)).isoformat(),
                    "to": (clock.now + timedelta(hours=1)).isoformat(),
                },
            )
        ).json()
        assert [p["views"] for p in hourly["data"]] == [first, second]
        bad = await client.get(
            f"/v1/posts/{post_id}/stats",
            params={"from": clock.now.isoformat(), "to": clock.now.isoformat()},
        )
        assert bad.status_code == 422
        report = (await client.get(f"/v1/campaigns/{s.campaign_id}/analytics")).json()
    assert report["totals"]["views"] == second
    assert report["posts_by_status"] == {
        "tracking": 1,
        "held": 0,
        "pending_cpm": 0,
        "finalized": 0,
        "paid": 0,
        "rejected": 0,
    }
    daily = report["daily_views"]
    assert len(daily) == 30  # every day of the default window, days without gains included
    assert daily[-1]["day"] == datetime.now(UTC).date().isoformat()
    # The first fetch's count is where the post stood when added: a baseline, not growth.
    assert sum(d["baseline_views"] for d in daily) == first
    assert sum(d["views_gained"] for d in daily) == second - first
    assert daily[-1]["total_views"] == second
    baseline_on = {d["day"]: d["baseline_views"] for d in daily if d["baseline_views"]}
    assert baseline_on == {first_day.isoformat(): first}
    gained_on = {d["day"]: d["views_gained"] for d in daily if d["views_gained"]}
    assert gained_on == {clock.now.date().isoformat(): second - first}
    assert report["top_posts"][0]["id"] == str(post_id)
    assert report["creators"][0]["views"] == second
    # Projected: a tracking post at or above the minimum views, at its tier (4.50), half-up.
    projected = Decimal(second) * Decimal("4.5") / 1000 if second >= 1000 else Decimal(0)
    assert report["earnings"]["projected"] == str(
        projected.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )


async def test_projected_earnings_round_half_up_at_a_half_cent(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """1,010 views at 2.50 per 1,000 is 2.525: half-up makes 2.53 (truncating or rounding
    half to even would make 2.52)."""
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    tier = await f.tier(client, cid, cpm="2.50", name="Half cent")
    post = await f.post(
        client,
        cid,
        url="https://www.tiktok.com/@scout2015/video/7000000000000000001",
        cpm_tier_id=tier["id"],
    )
    await session.execute(update(Post).where(Post.id == post["id"]).values(views=1010))
    await session.commit()
    report = await f.ok(await client.get(f"/v1/campaigns/{cid}/analytics"))
    assert report["earnings"]["projected"] == "2.53"
