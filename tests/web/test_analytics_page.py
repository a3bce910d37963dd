"""Analytics (/app/analytics): the API's answer for the same filters, rendered (KPI cards,
each chart's table); a member sees only their campaigns; a filter that cannot be read is a
message on the page, not an error."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CampaignDailyViews, CreatorDailyViews
from tests import factories as f
from tests.web.session_kit import set_post, signed_in


def _video(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7200000000000000000 + n}"


def _rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of one table (tags stripped)."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _kpi(html: str, key: str) -> str:
    card = html.split(f'data-kpi="{key}"', 1)[1].split("</div>", 1)[0]
    value = re.search(r'class="kpi-value">([^<]*)<', card)
    assert value is not None
    return value.group(1)


async def test_the_page_shows_the_apis_answer_for_its_filters(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    now = datetime.now(UTC)
    fresh = await f.post(client, cid, url=_video(1))
    old = await f.post(client, cid, url=_video(2))
    await set_post(session, fresh["id"], published_at=now - timedelta(days=1), views=12_345)
    await set_post(
        session, old["id"], published_at=now - timedelta(days=20), views=1_000_000,
        status="paid", earnings=Decimal("4.50"),
    )  # fmt: skip
    web = await signed_in(app, client, "ops@example.com")
    for period, videos in (("7d", 1), ("30d", 2)):
        page = await web.get("/app/analytics", params={"period": period, "campaign_id": cid})
        assert page.status_code == 200
        html = page.text
        api = await f.ok(
            await web.get("/v1/analytics", params={"period": period, "campaign_id": cid})
        )
        assert api["kpis"]["videos"]["current"] == videos
        assert _kpi(html, "videos") == f"{videos:,}"
        assert _kpi(html, "views") == f"{api['kpis']['views']['current']:,}"
        paid = api["kpis"]["earnings"][0]["paid"]["current"]
        assert _kpi(html, "earnings_paid_USD") == f"{Decimal(paid):,.2f} USD"
        assert _rows(html, "daily-table") == [
            [
                d["day"],
                f"{d['views_gained']:,}",
                f"{d['baseline_views']:,}",
                f"{d['total_views']:,}",
            ]
            for d in api["daily_views"]
        ]
        assert [r[1] for r in _rows(html, "status-table")] == [
            f"{n:,}" for n in api["posts_by_status"].values()
        ]
        assert [r[-1] for r in _rows(html, "top-posts-table")] == [
            f"{p['views']:,}" for p in api["top_posts"]
        ]
        assert f'href="/app/posts/{api["top_posts"][0]["id"]}"' in html
        assert html.count('<svg class="chart"') == 5
        assert f"/v1/analytics?period={period}&amp;campaign_id={cid}" in html


async def test_the_creator_and_platform_filters_narrow_the_daily_chart_as_the_api_does(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    cid = uuid.UUID(s["campaign"]["id"])
    today = datetime.now(UTC).date()
    # Today the campaign gained 1,500 views: 1,000 on TikTok (scout2015), 500 on Instagram.
    session.add_all(
        [
            CampaignDailyViews(campaign_id=cid, day=today, views_gained=1500, baseline_views=0),
            *(
                CreatorDailyViews(
                    campaign_id=cid,
                    creator_id=uuid.UUID(s[platform]["id"]),
                    day=today,
                    platform=platform,
                    views_gained=views,
                    baseline_views=0,
                )
                for platform, views in (("tiktok", 1000), ("instagram", 500))
            ),
        ]
    )
    await session.commit()
    web = await signed_in(app, client, "ops@example.com")
    for narrowed, total in (
        ({}, "1,500"),
        ({"platform": "tiktok"}, "1,000"),
        ({"creator_id": s["instagram"]["id"]}, "500"),
    ):
        params = {"period": "7d", "campaign_id": str(cid), **narrowed}
        html = (await web.get("/app/analytics", params=params)).text
        api = await f.ok(await web.get("/v1/analytics", params=params))
        rows = _rows(html, "daily-table")
        assert rows == [
            [
                d["day"],
                f"{d['views_gained']:,}",
                f"{d['baseline_views']:,}",
                f"{d['total_views']:,}",
            ]
            for d in api["daily_views"]
        ]
        assert rows[-1][-1] == total


async def test_a_member_sees_only_their_campaigns(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    theirs = s["campaign"]["id"]
    other = await f.campaign(client, name="Secret launch")
    await f.member(client, other["id"], s["tiktok"]["id"])
    hidden = await f.post(client, other["id"], url=_video(3))
    await set_post(session, hidden["id"], views=777_777)
    web = await signed_in(app, client, "m@example.com", "member", {theirs: "campaign_editor"})
    page = await web.get("/app/analytics", params={"period": "all"})
    assert page.status_code == 200
    assert "Secret launch" not in page.text
    assert "777,777" not in page.text
    assert _kpi(page.text, "videos") == "0"
    # Asking for the other campaign by id: as if it did not exist, said on the page.
    asked = await web.get("/app/analytics", params={"campaign_id": other["id"]})
    assert asked.status_code == 200
    assert "No campaign with that id." in asked.text
    assert "777,777" not in asked.text


async def test_a_filter_that_cannot_be_read_is_a_message(
    app: object, client: httpx.AsyncClient
) -> None:
    web = await signed_in(app, client, "ops@example.com")
    for params, said in (
        ({"period": "8d"}, "The period is one of 7, 14, 30 or 90 days"),
        ({"campaign_id": "nope"}, "That campaign id cannot be read."),
        ({"creator_id": "x"}, "That creator id cannot be read."),
        ({"platform": "myspace"}, "The platform is TikTok or Instagram."),
    ):
        page = await web.get("/app/analytics", params=params)
        assert page.status_code == 200, params
        assert said in page.text, params
        assert 'class="kpis"' not in page.text
