"""CPM tiers through the API: money as decimal strings, strict in and out, names unique per
campaign, a tier in use kept, a tier reached only through its own campaign."""

import uuid
from typing import Any

import httpx
import pytest

from tests import factories as f
from tests.conftest import MakeOrg


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


async def test_a_tier_is_added_only_to_a_campaign_of_the_caller_s_organization(
    client: httpx.AsyncClient, make_org: MakeOrg, client_for: Any
) -> None:
    other = await make_org("Other brand")
    async with client_for(other.key) as stranger:
        theirs = await f.campaign(stranger, name="Theirs")
    for campaign_id in (theirs["id"], str(uuid.uuid4())):
        body = {"name": "Mine", "cpm": "1"}
        answer = await client.post(f"/v1/campaigns/{campaign_id}/cpm-tiers", json=body)
        assert (answer.status_code, answer.json()["code"]) == (404, "campaign_not_found")
    async with client_for(other.key) as stranger:
        tiers = await f.ok(await stranger.get(f"/v1/campaigns/{theirs['id']}/cpm-tiers"))
    assert tiers["data"] == []
