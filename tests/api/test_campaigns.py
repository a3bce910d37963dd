"""Campaigns through the API: defaults, validation, pages, the ended status, patches and
who may delete what (tiers, creators and members have their own files)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Role
from app.models import Post
from tests import factories as f
from tests.conftest import Org


async def test_a_campaign_is_created_with_sane_defaults_and_read_back(
    client: httpx.AsyncClient,
) -> None:
    created = await f.campaign(client, name="  Summer  ", currency="eur", min_views=500)
    assert created["name"] == "Summer"
    assert created["currency"] == "EUR"
    assert created["status"] == "active"
    assert created["min_views"] == 500
    assert created["finalize_after_days"] is None
    assert await f.ok(await client.get(f"/v1/campaigns/{created['id']}")) == created


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": ""}, "/body/name"),
        ({"name": "x", "currency": "EURO"}, "/body/currency"),
        ({"name": "x", "min_views": -1}, "/body/min_views"),
        ({"name": "x", "finalize_after_days": 100000}, "/body/finalize_after_days"),
        ({"name": "x", "finalize_after_days": False}, "/body/finalize_after_days"),
        ({"name": "x", "starts_on": 0}, "/body/starts_on"),
        ({"name": "x", "status": "archived"}, "/body/status"),
        ({"name": "x", "starts_on": "2026-02-01", "ends_on": "2026-01-01"}, "/body"),
        ({"name": "x", "surprise": 1}, "/body/surprise"),
    ],
)
async def test_invalid_campaigns_are_refused_with_a_pointer(
    client: httpx.AsyncClient, body: dict[str, object], pointer: str
) -> None:
    response = await client.post("/v1/campaigns", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_failed"
    assert any(e["pointer"] == pointer for e in response.json()["errors"])


async def test_campaign_list_pages_newest_first_and_filters_by_status(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await f.campaign(client, name=f"c{i}"))["id"] for i in range(5)]
    await client.patch(f"/v1/campaigns/{ids[0]}", json={"status": "ended"})
    first = await f.ok(await client.get("/v1/campaigns", params={"limit": 2}))
    assert [c["id"] for c in first["data"]] == [ids[4], ids[3]]
    second = await f.ok(
        await client.get("/v1/campaigns", params={"limit": 2, "cursor": first["next_cursor"]})
    )
    third = await f.ok(
        await client.get("/v1/campaigns", params={"limit": 2, "cursor": second["next_cursor"]})
    )
    assert [c["id"] for c in second["data"] + third["data"]] == [ids[2], ids[1], ids[0]]
    assert third["next_cursor"] is None
    ended = await f.ok(await client.get("/v1/campaigns", params={"status": "ended"}))
    assert [c["id"] for c in ended["data"]] == [ids[0]]


async def test_a_campaign_reads_ended_once_past_the_end_of_its_last_day(
    client: httpx.AsyncClient,
) -> None:
    """Issue 22 item 13: `ends_on` is a UTC day the campaign runs through; from the next day
    it reads `ended` (in the answer and in the status filter) whatever status was set, and
    extending `ends_on` reopens it."""
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    past = await f.campaign(client, name="Past", ends_on=yesterday.isoformat())
    last_day = await f.campaign(client, name="Last day", ends_on=today.isoformat())
    paused = await f.campaign(client, name="Paused", status="paused", ends_on=str(yesterday))
    assert (past["status"], last_day["status"], paused["status"]) == ("ended", "active", "ended")
    assert (await f.ok(await client.get(f"/v1/campaigns/{past['id']}")))["status"] == "ended"

    async def listed(status: str) -> list[str]:
        page = await f.ok(await client.get("/v1/campaigns", params={"status": status}))
        return [c["name"] for c in page["data"]]

    assert await listed("ended") == ["Paused", "Past"]
    assert await listed("active") == ["Last day"]
    assert await listed("paused") == []
    reopened = await f.ok(
        await client.patch(f"/v1/campaigns/{past['id']}", json={"ends_on": today.isoformat()})
    )
    assert reopened["status"] == "active"
    assert await listed("active") == ["Last day", "Past"]


async def test_patch_changes_only_what_is_sent_and_null_clears_overrides(
    client: httpx.AsyncClient,
) -> None:
    c = await f.campaign(client, min_views=10, finalize_after_days=3)
    patched = await f.ok(
        await client.patch(f"/v1/campaigns/{c['id']}", json={"min_views": None, "status": "paused"})
    )
    assert patched["min_views"] is None
    assert patched["finalize_after_days"] == 3
    assert patched["status"] == "paused"
    assert patched["name"] == c["name"]
    refused = await client.patch(f"/v1/campaigns/{c['id']}", json={"name": None})
    assert refused.status_code == 422
    dates = await client.patch(
        f"/v1/campaigns/{c['id']}", json={"starts_on": "2026-05-01", "ends_on": "2026-04-01"}
    )
    assert dates.status_code == 422


async def _finalize_all(session: AsyncSession) -> None:
    await session.execute(update(Post).values(status="finalized", locked_views=5000, earnings=22.5))
    await session.commit()


async def test_a_campaign_with_payouts_keeps_its_currency_and_cannot_be_deleted(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    await f.post(client, cid, url="https://www.tiktok.com/@scout2015/video/123")
    await _finalize_all(session)
    currency = await client.patch(f"/v1/campaigns/{cid}", json={"currency": "GBP"})
    assert (currency.status_code, currency.json()["code"]) == (409, "currency_locked")
    deleted = await client.delete(f"/v1/campaigns/{cid}")
    assert (deleted.status_code, deleted.json()["code"]) == (409, "campaign_has_decided_posts")
    assert (await client.get(f"/v1/campaigns/{cid}")).status_code == 200


@pytest.mark.parametrize("status", ["pending_cpm", "held", "rejected"])
async def test_a_campaign_with_any_decided_post_is_kept_and_only_admins_delete(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_key: Callable[[Org, Role], Awaitable[str]],
    client_for: Callable[[str | None], httpx.AsyncClient],
    org: Org,
    status: str,
) -> None:
    """pending_cpm posts have locked views and every post has its events: deleting them
    would lose a decision. Editors may not delete campaigns at all."""
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    tracking = await f.post(client, cid, url="https://www.tiktok.com/@scout2015/video/1")
    decided = await f.post(client, cid, url="https://www.tiktok.com/@scout2015/video/2")
    await session.execute(
        update(Post).where(Post.id == decided["id"]).values(status=status, locked_views=1500)
    )
    await session.commit()
    editor = client_for(await make_key(org, Role.EDITOR))
    forbidden = await editor.delete(f"/v1/campaigns/{cid}")
    assert forbidden.status_code == 403
    kept = await client.delete(f"/v1/campaigns/{cid}")
    assert (kept.status_code, kept.json()["code"]) == (409, "campaign_has_decided_posts")
    assert (await client.get(f"/v1/posts/{tracking['id']}")).status_code == 200


async def test_deleting_a_campaign_removes_it_with_its_posts(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    p = await f.post(client, cid, url="https://www.tiktok.com/@scout2015/video/123")
    assert (await client.delete(f"/v1/campaigns/{cid}")).status_code == 204
    assert (await client.get(f"/v1/campaigns/{cid}")).json()["code"] == "campaign_not_found"
    assert (await client.get(f"/v1/posts/{p['id']}")).status_code == 404


async def test_a_deadline_beyond_the_refresh_window_is_refused(client: httpx.AsyncClient) -> None:
    late = await client.post("/v1/campaigns", json={"name": "x", "finalize_after_days": 31})
    assert (late.status_code, late.json()["code"]) == (422, "finalize_after_beyond_window")
    assert (await f.campaign(client, finalize_after_days=30))["finalize_after_days"] == 30
