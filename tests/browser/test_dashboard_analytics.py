"""Analytics in Chromium (issue 27): a seeded campaign's KPI cards and tables show the numbers
of `GET /v1/analytics` for the same filters, the period filter changes them, and the charts
draw (their SVG is not empty)."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import CampaignDailyViews, Post
from app.settings import Settings
from tests import factories as f
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab


def _tiktok(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7_360_000_000_000_000_000 + n}"


async def test_analytics_show_the_apis_numbers_and_follow_the_period(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis
) -> None:
    now = datetime.now(UTC)
    today = now.date()
    async with admin_api(settings, engine, committed, name="Analytics brand") as api:
        s = await f.setup_campaign(api)
        cid = s["campaign"]["id"]
        await add_user(api, "ops@brand.example", name="Olivia Ops")
        # (days since published, views, likes, status, earnings): three this week, two the
        # week before, one a month ago.
        seeded = [
            (1, 48_210, 3_100, "tracking", None),
            (3, 12_400, 800, "tracking", None),
            (5, 2_900, 120, "finalized", Decimal("13.05")),
            (9, 30_050, 1_900, "paid", Decimal("135.23")),
            (12, 800, 20, "rejected", None),
            (35, 9_999, 400, "paid", Decimal("45.00")),
        ]
        posts = [await f.post(api, cid, url=_tiktok(n)) for n in range(len(seeded))]
        async with committed() as session:
            for post, (age, views, likes, status, earnings) in zip(posts, seeded, strict=True):
                await session.execute(
                    update(Post)
                    .where(Post.id == uuid.UUID(post["id"]))
                    .values(
                        published_at=now - timedelta(days=age),
                        views=views,
                        likes=likes,
                        comments=likes // 10,
                        shares=likes // 20,
                        status=status,
                        earnings=earnings,
                        locked_views=views if earnings else None,
                    )
                )
            # What the writer of the snapshots would have rolled up, a day at a time.
            session.add_all(
                CampaignDailyViews(
                    campaign_id=uuid.UUID(cid),
                    day=today - timedelta(days=back),
                    views_gained=gained,
                    baseline_views=baseline,
                )
                for back, gained, baseline in (
                    (13, 40_849, 40_849),
                    (6, 20_300, 2_900),
                    (4, 9_100, 0),
                    (2, 21_000, 12_400),
                    (1, 9_600, 0),
                    (0, 3_510, 0),
                )
            )
            await session.commit()
        week = await f.ok(await api.get("/v1/analytics", params={"period": "7d"}))
        month = await f.ok(await api.get("/v1/analytics", params={"period": "30d"}))
    assert week["kpis"]["videos"]["current"] == 3
    assert month["kpis"]["videos"]["current"] == 5

    with dashboard(settings) as origin:
        async with tab(origin) as t:
            await t.go("/app/analytics?period=7d")
            await t.sign_in("ops@brand.example")
            assert "/app/analytics" in t.page.url

            async def card(key: str) -> str:
                locator = t.page.locator(f'[data-kpi="{key}"] .kpi-value')
                return (await locator.inner_text()).strip()

            for key in ("videos", "active_creators", "views", "average_views"):
                assert await card(key) == f"{week['kpis'][key]['current']:,}", key
            rate = week["kpis"]["engagement_rate"]["current"]
            assert await card("engagement_rate") == f"{Decimal(rate) * 100:.2f}%"
            (usd,) = week["kpis"]["earnings"]
            assert await card("earnings_finalized_USD") == f"{usd['finalized']['current']} USD"
            videos_change = week["kpis"]["videos"]["change"]
            change = t.page.locator('[data-kpi="videos"] .kpi-change')
            assert f"{Decimal(videos_change) * 100:+.2f}%" in await change.inner_text()
            # The daily table is the API's daily series, row by row.
            rows = t.page.locator("#daily-table tbody tr")
            assert await rows.count() == len(week["daily_views"]) == 7
            last = week["daily_views"][-1]
            assert (await rows.nth(6).inner_text()).split() == [
                last["day"],
                f"{last['views_gained']:,}",
                f"{last['baseline_views']:,}",
                f"{last['total_views']:,}",
            ]
            # Every chart drew something: bars, a line and its points.
            charts = t.page.locator("svg.chart")
            assert await charts.count() == 5
            assert await t.page.locator("svg.chart rect.chart-bar").count() >= 7
            assert await t.page.locator("svg.chart polyline.chart-line").count() == 1
            await t.shoot("analytics")

            # Another period: other numbers, the API's for it.
            await t.page.get_by_role("link", name="30 days").click()
            await t.page.wait_for_url("**period=30d**")
            for key in ("videos", "views"):
                assert await card(key) == f"{month['kpis'][key]['current']:,}", key
            assert await card("videos") != f"{week['kpis']['videos']['current']:,}"
            assert await t.page.locator("#daily-table tbody tr").count() == 30
            # A top video opens its post's page.
            top = month["top_posts"][0]
            await (
                t.page.locator("#top-posts-table tbody tr").first.get_by_role("link").first.click()
            )
            await t.page.wait_for_url(f"**/app/posts/{top['id']}")
