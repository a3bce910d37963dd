"""Analytics by period (against the previous period of the same length), creator and
platform, for a campaign (`GET /v1/campaigns/{id}/analytics`) and for an organization
(`GET /v1/analytics`): which posts a period covers, the KPI arithmetic, currencies kept
apart, and a restricted caller's reach."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories as f
from tests.api.test_permissions import as_member, as_restricted_key
from tests.api.test_posts import _set


def _video(n: int, handle: str = "scout2015") -> str:
    return f"https://www.tiktok.com/@{handle}/video/{7100000000000000000 + n}"


async def _four_posts(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, Any]:
    """Tier 4.50. In the last 7 days: a TikTok post (tracking, 10,000 views) and an Instagram
    one (finalized, 9.00); in the 7 days before: a paid TikTok post (18.00); 40 days ago: one
    more TikTok post (rejected)."""
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    now = datetime.now(UTC)
    a = await f.post(client, cid, url=_video(1))
    b = await f.post(
        client,
        cid,
        url="https://www.instagram.com/reel/C0dEfGhIjKl/",
        creator_id=s["instagram"]["id"],
    )
    c = await f.post(client, cid, url=_video(3))
    d = await f.post(client, cid, url=_video(4))
    await _set(
        session, a["id"], published_at=now - timedelta(days=2), views=10_000, likes=400,
        comments=50, shares=50,
    )  # fmt: skip
    await _set(
        session, b["id"], published_at=now - timedelta(days=3), status="finalized", views=3_000,
        likes=100, comments=0, shares=None, locked_views=2_000, earnings=Decimal("9.00"),
    )  # fmt: skip
    await _set(
        session, c["id"], published_at=now - timedelta(days=10), status="paid", views=2_000,
        likes=100, comments=0, shares=0, locked_views=4_000, earnings=Decimal("18.00"),
    )  # fmt: skip
    await _set(
        session, d["id"], published_at=now - timedelta(days=40), status="rejected", views=500,
        likes=5, comments=0, shares=0,
    )  # fmt: skip
    return {**s, "cid": cid, "a": a, "b": b, "c": c, "d": d}


async def test_a_period_covers_the_posts_aged_from_within_it_against_the_period_before(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _four_posts(client, session)
    report = await f.ok(
        await client.get(f"/v1/campaigns/{w['cid']}/analytics", params={"period": "7d"})
    )
    k = report["kpis"]
    assert k["videos"] == {"current": 2, "previous": 1, "change": "1.0000"}
    assert k["active_creators"] == {"current": 2, "previous": 1, "change": "1.0000"}
    assert k["views"] == {"current": 13_000, "previous": 2_000, "change": "5.5000"}
    assert k["average_views"] == {"current": 6_500, "previous": 2_000, "change": "2.2500"}
    # (400 + 50 + 50 + 100) / 13,000 = 0.04615... -> 0.0462; before 100 / 2,000 = 0.0500.
    assert k["engagement_rate"] == {"current": "0.0462", "previous": "0.0500", "change": "-0.0760"}
    (usd,) = k["earnings"]
    assert usd == {
        "currency": "USD",
        # Nothing finalized before: no change to tell (not an infinite one).
        "finalized": {"current": "9.00", "previous": "0.00", "change": None},
        "paid": {"current": "0.00", "previous": "18.00", "change": "-1.0000"},
        "projected": {"current": "45.00", "previous": "0.00", "change": None},
    }
    # Every other figure covers the same two posts.
    assert report["posts_by_status"]["tracking"] == 1
    assert report["posts_by_status"]["finalized"] == 1
    assert sum(report["posts_by_status"].values()) == 2
    assert report["totals"]["views"] == 13_000
    assert report["earnings"] == {"finalized": "9.00", "paid": "0.00", "projected": "45.00"}
    assert [p["id"] for p in report["top_posts"]] == [w["a"]["id"], w["b"]["id"]]
    assert report["top_posts"][0]["creator_handle"] == "scout2015"
    assert [(e["handle"], e["earnings"]) for e in report["top_earners"]] == [("natgeo", "9.00")]
    assert report["by_platform"] == [
        {"platform": "tiktok", "posts": 1, "views": 10_000},
        {"platform": "instagram", "posts": 1, "views": 3_000},
        {"platform": "youtube", "posts": 0, "views": 0},
    ]
    assert len(report["daily_views"]) == 7
    start = datetime.fromisoformat(report["period_start"])
    first_day = datetime.now(UTC).date() - timedelta(days=6)
    assert start == datetime.combine(first_day, start.time(), UTC)
    assert datetime.fromisoformat(report["previous_start"]) == start - timedelta(days=7)

    # All time: every post, nothing to compare with.
    every = await f.ok(await client.get(f"/v1/campaigns/{w['cid']}/analytics"))
    assert every["period"] == "all"
    assert every["period_start"] is None
    assert every["kpis"]["videos"] == {"current": 4, "previous": None, "change": None}
    assert every["kpis"]["average_views"]["current"] == 3_875  # 15,500 / 4
    assert every["earnings"] == {"finalized": "9.00", "paid": "18.00", "projected": "45.00"}


async def test_creator_and_platform_narrow_the_report(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _four_posts(client, session)
    path = f"/v1/campaigns/{w['cid']}/analytics"
    insta = await f.ok(await client.get(path, params={"period": "30d", "platform": "instagram"}))
    assert insta["platform"] == "instagram"
    assert insta["kpis"]["videos"]["current"] == 1
    assert [p["id"] for p in insta["top_posts"]] == [w["b"]["id"]]
    tiktok = w["tiktok"]["id"]
    mine = await f.ok(await client.get(path, params={"period": "30d", "creator_id": tiktok}))
    assert mine["kpis"]["videos"] == {"current": 2, "previous": 1, "change": "1.0000"}
    assert [c["creator_id"] for c in mine["creators"]] == [tiktok]
    assert [(e["handle"], e["earnings"]) for e in mine["top_earners"]] == [("scout2015", "18.00")]
    # The organization's report for the one campaign is the campaign's, figure for figure.
    org = await f.ok(
        await client.get(
            "/v1/analytics", params={"period": "30d", "creator_id": tiktok, "campaign_id": w["cid"]}
        )
    )
    for key in ("kpis", "totals", "posts_by_status", "by_platform", "daily_views", "top_posts"):
        assert org[key] == mine[key], key
    assert org["earnings"] == [{"currency": "USD", **mine["earnings"]}]


async def test_the_organizations_report_keeps_currencies_apart_and_sums_the_rest(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _four_posts(client, session)
    euro = await f.campaign(client, name="Herbst", currency="EUR")
    tier = await f.tier(client, euro["id"], cpm="2.00")
    await f.member(client, euro["id"], w["tiktok"]["id"], tier["id"])
    e = await f.post(client, euro["id"], url=_video(9))
    await _set(session, e["id"], status="paid", views=5_000, earnings=Decimal("10.00"))
    report = await f.ok(await client.get("/v1/analytics", params={"top": 1}))
    assert report["campaign_id"] is None
    assert report["kpis"]["videos"]["current"] == 5
    assert report["earnings"] == [
        {"currency": "EUR", "finalized": "0.00", "paid": "10.00", "projected": "0.00"},
        {"currency": "USD", "finalized": "9.00", "paid": "18.00", "projected": "45.00"},
    ]
    assert [e["currency"] for e in report["kpis"]["earnings"]] == ["EUR", "USD"]
    # The paid USD 18.00 ranks above EUR 10.00 (amounts, not currencies, are compared).
    assert [(e["handle"], e["currency"], e["earnings"]) for e in report["top_earners"]] == [
        ("scout2015", "USD", "18.00")
    ]
    # One creator listed (top=1), the other summed up.
    assert [c["handle"] for c in report["creators"]] == ["scout2015"]
    assert report["other_creators"] == {"creators": 1, "posts": 1, "views": 3_000}


@pytest.mark.parametrize("make", [as_member, as_restricted_key], ids=["member", "key"])
async def test_a_restricted_caller_gets_its_campaigns_only(
    app: Any, client: httpx.AsyncClient, session: AsyncSession, make: Any
) -> None:
    w = await _four_posts(client, session)
    other = await f.campaign(client, name="Elsewhere")
    await f.member(client, other["id"], w["tiktok"]["id"])
    hidden = await f.post(client, other["id"], url=_video(7))
    await _set(session, hidden["id"], views=99_999)
    role = "campaign_editor" if make is as_member else "viewer"
    async with make(app, client, w["cid"], role) as caller:
        mine = await f.ok(await caller.get("/v1/analytics"))
        assert mine["kpis"]["videos"]["current"] == 4
        assert hidden["id"] not in [p["id"] for p in mine["top_posts"]]
        gone = await caller.get("/v1/analytics", params={"campaign_id": other["id"]})
        assert gone.status_code == 404
        assert gone.json()["code"] == "campaign_not_found"
    everything = await f.ok(await client.get("/v1/analytics"))
    assert everything["kpis"]["videos"]["current"] == 5


async def test_filters_are_checked(client: httpx.AsyncClient) -> None:
    for params in ({"period": "8d"}, {"platform": "myspace"}, {"creator_id": "nope"}):
        bad = await client.get("/v1/analytics", params=params)
        assert bad.status_code == 422, params
    unknown = await client.get("/v1/analytics", params={"periode": "7d"})
    assert unknown.json()["code"] == "unknown_parameter"
    missing = await client.get(
        "/v1/analytics", params={"campaign_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert missing.status_code == 404
    empty = await f.ok(await client.get("/v1/analytics", params={"period": "14d"}))
    assert empty["kpis"]["average_views"] == {"current": None, "previous": None, "change": None}
    assert empty["kpis"]["engagement_rate"]["current"] is None
    assert empty["earnings"] == []
    assert len(empty["daily_views"]) == 14
