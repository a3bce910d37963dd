"""Campaigns, CPM tiers, creators and members through the API."""

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


async def test_tiers_carry_money_as_decimal_strings(client: httpx.AsyncClient) -> None:
    c = await f.campaign(client)
    t = await f.tier(client, c["id"], cpm="4.5", cap="250")
    assert (t["cpm"], t["cap"]) == ("4.5000", "250.00")
    largest = await f.ok(
        await client.post(
            f"/v1/campaigns/{c['id']}/cpm-tiers",
            json={"name": "B", "cpm": "99999999.9999", "cap": "9999999999.99"},
        ),
        201,
    )
    assert (largest["cpm"], largest["cap"]) == ("99999999.9999", "9999999999.99")
    plain = await f.tier(client, c["id"], cpm="2", name="C")
    assert (plain["cpm"], plain["cap"]) == ("2.0000", None)
    listed = await f.ok(await client.get(f"/v1/campaigns/{c['id']}/cpm-tiers"))
    assert [x["name"] for x in listed["data"]] == ["Standard", "B", "C"]
    patched = await f.ok(
        await client.patch(f"/v1/campaigns/{c['id']}/cpm-tiers/{t['id']}", json={"cap": None})
    )
    assert (patched["cpm"], patched["cap"]) == ("4.5000", None)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "cpm": "-1"},
        {"name": "x", "cpm": "1.00001"},
        {"name": "x", "cpm": "1", "cap": "0.001"},
        {"name": "x", "cpm": "NaN"},
        {"name": "x", "cpm": "Infinity"},
        {"name": "x", "cpm": "123456789012"},
        {"name": "x", "cpm": "four"},
        {"name": "x"},
        # Only JSON strings of ASCII digits: what Decimal() would also take is refused.
        {"name": "x", "cpm": 2},
        {"name": "x", "cpm": 4.5},
        {"name": "x", "cpm": "1e3"},
        {"name": "x", "cpm": "1E3"},
        {"name": "x", "cpm": "1_000"},
        {"name": "x", "cpm": "+1"},
        {"name": "x", "cpm": " 1"},
        {"name": "x", "cpm": "1 "},
        {"name": "x", "cpm": "1\n"},
        {"name": "x", "cpm": "\u0661\u0662\u0663"},  # Arabic-Indic digits
        {"name": "x", "cpm": "\uff11"},  # a fullwidth digit
        {"name": "x", "cpm": "123456789"},
        {"name": "x", "cpm": ""},
        {"name": "x", "cpm": True},
        {"name": "x", "cpm": "1", "cap": 250},
        {"name": "x", "cpm": "1", "cap": "12345678901"},
        {"name": "x", "cpm": "1", "cap": "1_0"},
    ],
)
async def test_bad_money_is_refused(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    c = await f.campaign(client)
    response = await client.post(f"/v1/campaigns/{c['id']}/cpm-tiers", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    if "cpm" in body and "cap" not in body:
        error = response.json()["errors"][0]
        assert error["pointer"] == "/body/cpm"
        assert "ASCII digits" in error["message"]


async def test_money_is_a_string_with_a_pattern_in_the_schema(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    cpm_in = schemas["TierCreate"]["properties"]["cpm"]
    assert (cpm_in["type"], cpm_in["pattern"]) == ("string", "^[0-9]{1,8}(\\.[0-9]{1,4})?$")
    assert "anyOf" not in cpm_in
    cap_in = schemas["TierUpdate"]["properties"]["cap"]["anyOf"][0]
    assert (cap_in["type"], cap_in["pattern"]) == ("string", "^[0-9]{1,10}(\\.[0-9]{1,2})?$")
    out = next(v for k, v in schemas.items() if k.startswith("TierOut"))["properties"]
    assert (out["cpm"]["type"], out["cpm"]["pattern"]) == ("string", "^[0-9]{1,8}\\.[0-9]{4}$")
    assert out["cap"]["anyOf"][0]["pattern"] == "^[0-9]{1,10}\\.[0-9]{2}$"


async def test_money_patches_are_strict_too(client: httpx.AsyncClient) -> None:
    c = await f.campaign(client)
    t = await f.tier(client, c["id"])
    tier_url = f"/v1/campaigns/{c['id']}/cpm-tiers/{t['id']}"
    for body in ({"cpm": 3}, {"cpm": "3e0"}, {"cap": 1.5}, {"cap": "\u0661"}):
        assert (await client.patch(tier_url, json=body)).status_code == 422, body
    patched = await f.ok(await client.patch(tier_url, json={"cpm": "3.25", "cap": "10.5"}))
    assert (patched["cpm"], patched["cap"]) == ("3.2500", "10.50")


async def test_tier_names_are_unique_per_campaign(client: httpx.AsyncClient) -> None:
    c = await f.campaign(client)
    await f.tier(client, c["id"], name="Gold")
    again = await client.post(
        f"/v1/campaigns/{c['id']}/cpm-tiers", json={"name": "Gold", "cpm": "1"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "cpm_tier_exists")


async def test_a_tier_in_use_cannot_be_deleted_and_an_unused_one_can(
    client: httpx.AsyncClient,
) -> None:
    s = await f.setup_campaign(client)
    cid, tid = s["campaign"]["id"], s["tier"]["id"]
    await f.post(client, cid, url="https://www.tiktok.com/@scout2015/video/123")
    in_use = await client.delete(f"/v1/campaigns/{cid}/cpm-tiers/{tid}")
    assert (in_use.status_code, in_use.json()["code"]) == (409, "cpm_tier_in_use")
    spare = await f.tier(client, cid, name="Spare")
    assert (await client.delete(f"/v1/campaigns/{cid}/cpm-tiers/{spare['id']}")).status_code == 204


async def test_a_tier_is_reached_only_through_its_own_campaign(client: httpx.AsyncClient) -> None:
    a, b = await f.campaign(client), await f.campaign(client)
    t = await f.tier(client, a["id"])
    response = await client.patch(f"/v1/campaigns/{b['id']}/cpm-tiers/{t['id']}", json={"cpm": "9"})
    assert (response.status_code, response.json()["code"]) == (404, "cpm_tier_not_found")


async def test_creators_strip_the_at_and_are_unique_ignoring_case(
    client: httpx.AsyncClient,
) -> None:
    created = await f.ok(
        await client.post("/v1/creators", json={"platform": "tiktok", "handle": " @Scout2015 "}),
        201,
    )
    assert created["handle"] == "Scout2015"
    dup = await client.post("/v1/creators", json={"platform": "tiktok", "handle": "scout2015"})
    assert (dup.status_code, dup.json()["code"]) == (409, "creator_exists")
    other_platform = await client.post(
        "/v1/creators", json={"platform": "instagram", "handle": "scout2015"}
    )
    assert other_platform.status_code == 201
    found = await f.ok(
        await client.get("/v1/creators", params={"handle": "@SCOUT2015", "platform": "tiktok"})
    )
    assert [c["id"] for c in found["data"]] == [created["id"]]
    bad = await client.post("/v1/creators", json={"platform": "tiktok", "handle": "no spaces"})
    assert bad.status_code == 422
    patched = await f.ok(
        await client.patch(f"/v1/creators/{created['id']}", json={"platform_user_id": "6748"})
    )
    assert patched["platform_user_id"] == "6748"
    assert (await f.ok(await client.get(f"/v1/creators/{created['id']}")))[
        "platform_user_id"
    ] == "6748"


async def test_members_join_once_with_a_default_tier_of_their_campaign(
    client: httpx.AsyncClient,
) -> None:
    c, other = await f.campaign(client), await f.campaign(client)
    t, foreign = await f.tier(client, c["id"]), await f.tier(client, other["id"])
    cr = await f.creator(client)
    wrong_tier = await client.post(
        f"/v1/campaigns/{c['id']}/members",
        json={"creator_id": cr["id"], "cpm_tier_id": foreign["id"]},
    )
    assert (wrong_tier.status_code, wrong_tier.json()["code"]) == (422, "cpm_tier_not_in_campaign")
    m = await f.member(client, c["id"], cr["id"], t["id"])
    assert (m["cpm_tier_id"], m["creator"]["handle"]) == (t["id"], "scout2015")
    again = await client.post(f"/v1/campaigns/{c['id']}/members", json={"creator_id": cr["id"]})
    assert (again.status_code, again.json()["code"]) == (409, "member_exists")
    cleared = await f.ok(
        await client.patch(
            f"/v1/campaigns/{c['id']}/members/{cr['id']}", json={"cpm_tier_id": None}
        )
    )
    assert cleared["cpm_tier_id"] is None
    members = await f.ok(await client.get(f"/v1/campaigns/{c['id']}/members"))
    assert [x["creator_id"] for x in members["data"]] == [cr["id"]]
    assert (await client.delete(f"/v1/campaigns/{c['id']}/members/{cr['id']}")).status_code == 204
    empty = await f.ok(await client.get(f"/v1/campaigns/{c['id']}/members"))
    assert empty == {"data": [], "next_cursor": None}
    gone = await client.delete(f"/v1/campaigns/{c['id']}/members/{cr['id']}")
    assert (gone.status_code, gone.json()["code"]) == (404, "member_not_found")


async def test_a_deadline_beyond_the_refresh_window_is_refused(client: httpx.AsyncClient) -> None:
    late = await client.post("/v1/campaigns", json={"name": "x", "finalize_after_days": 31})
    assert (late.status_code, late.json()["code"]) == (422, "finalize_after_beyond_window")
    assert (await f.campaign(client, finalize_after_days=30))["finalize_after_days"] == 30
