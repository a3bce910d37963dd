"""A period's edges: a post aged from exactly midnight UTC of the period's first day is the
period's, one aged from exactly the previous period's first midnight is the previous
period's, and one a second before that is neither's; its earnings follow it. The period and
the previous one are read by one statement that splits them on the period's start."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests import factories as f
from tests.api.test_posts import _set


def _video(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7200000000000000000 + n}"


async def test_the_period_starts_at_its_first_midnight_and_the_previous_one_at_its_own(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=6), time(), UTC)
    at_start, at_previous_start, before = [
        await f.post(client, cid, url=_video(n)) for n in range(3)
    ]
    await _set(
        session, at_start["id"], published_at=start, status="paid", views=4_000,
        locked_views=4_000, earnings=Decimal("18.00"),
    )  # fmt: skip
    await _set(
        session, at_previous_start["id"], published_at=start - timedelta(days=7),
        status="finalized", views=2_000, locked_views=2_000, earnings=Decimal("9.00"),
    )  # fmt: skip
    await _set(
        session, before["id"], published_at=start - timedelta(days=7, seconds=1),
        status="finalized", views=1_000, locked_views=1_000, earnings=Decimal("4.50"),
    )  # fmt: skip
    report = await f.ok(await client.get(f"/v1/campaigns/{cid}/analytics", params={"period": "7d"}))
    k = report["kpis"]
    assert k["videos"] == {"current": 1, "previous": 1, "change": "0.0000"}
    assert k["views"] == {"current": 4_000, "previous": 2_000, "change": "1.0000"}
    (usd,) = k["earnings"]
    assert usd["paid"] == {"current": "18.00", "previous": "0.00", "change": None}
    assert usd["finalized"] == {"current": "0.00", "previous": "9.00", "change": "-1.0000"}
    assert report["earnings"] == {"finalized": "0.00", "paid": "18.00", "projected": "0.00"}
