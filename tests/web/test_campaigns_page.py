"""Campaigns (/app/campaigns): a campaign created and set up (terms, CPM tiers, members and
their tiers) as the API would make it, what cannot be saved shown beside its field, and
each person offered only what their role allows, a forged request refused as the API
refuses it."""

import re
from typing import Any

import httpx
from redis.asyncio import Redis

from tests import factories as f
from tests.web.session_kit import signed_in

HTMX = {"HX-Request": "true"}
TERMS = {
    "name": "Autumn drop",
    "currency": "eur",
    "status": "active",
    "starts_on": "2030-09-01",
    "ends_on": "2030-11-30",
    "min_views": "500",
    "finalize_after_days": "",
    "hold_on_flags": ["view_spike", "low_engagement"],
}


def _error_of(page: str, form_field: str) -> str:
    """The complaint shown beside a field (its id is `<form>-<field>-error`)."""
    found = re.search(rf'id="{form_field}-error">([^<]*)<', page)
    assert found, f"no complaint beside {form_field}"
    assert f'aria-describedby="{form_field}-error"' in page or (
        f'{form_field}-hint {form_field}-error"' in page
    )
    return found.group(1)


async def _post(web: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    answer = await web.post(path, data=data, headers=HTMX)
    assert answer.status_code in (200, 204), answer.text
    return answer


async def test_a_campaign_set_up_in_the_dashboard_is_the_api_s_campaign(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    web = await signed_in(app, client, "ops@example.com")
    assert "New campaign" in (await web.get("/app/campaigns")).text
    assert 'name="hold_on_flags"' in (await web.get("/app/campaigns/new")).text
    made = await _post(web, "/app/campaigns", TERMS)
    assert made.status_code == 204
    cid = made.headers["HX-Redirect"].rsplit("/", 1)[1]
    api = await f.ok(await client.get(f"/v1/campaigns/{cid}"))
    assert {k: api[k] for k in ("name", "currency", "status", "starts_on", "ends_on")} == {
        "name": "Autumn drop",
        "currency": "EUR",
        "status": "active",
        "starts_on": "2030-09-01",
        "ends_on": "2030-11-30",
    }
    assert (api["min_views"], api["finalize_after_days"]) == (500, None)
    assert api["hold_on_flags"] == ["low_engagement", "view_spike"]
    listed = (await web.get("/app/campaigns")).text
    assert f'href="/app/campaigns/{cid}">Autumn drop</a>' in listed

    # A tier, then its cap.
    page = await _post(
        web, f"/app/campaigns/{cid}/tiers", {"name": "Gold", "cpm": "4.5", "cap": ""}
    )
    assert "Added the tier Gold." in page.text
    tiers = (await f.ok(await client.get(f"/v1/campaigns/{cid}/cpm-tiers")))["data"]
    assert [(t["name"], t["cpm"], t["cap"]) for t in tiers] == [("Gold", "4.5000", None)]
    tid = tiers[0]["id"]
    sent = {"name": "Gold", "cpm": "4.5000", "cap": "250"}
    assert (
        "Saved the tier Gold." in (await _post(web, f"/app/campaigns/{cid}/tiers/{tid}", sent)).text
    )
    tier = (await f.ok(await client.get(f"/v1/campaigns/{cid}/cpm-tiers")))["data"][0]
    assert (tier["cpm"], tier["cap"]) == ("4.5000", "250.00")

    # A member with the tier, then with none; then removed.
    creator = await f.creator(client, "scout2015")
    page = await web.get(f"/app/campaigns/{cid}")
    assert f'<option value="{creator["id"]}">@scout2015 (TikTok)</option>' in page.text
    added = await _post(
        web, f"/app/campaigns/{cid}/members", {"creator_id": creator["id"], "cpm_tier_id": tid}
    )
    assert "Added the creator to the campaign." in added.text
    members = (await f.ok(await client.get(f"/v1/campaigns/{cid}/members")))["data"]
    assert [(m["creator_id"], m["cpm_tier_id"]) for m in members] == [(creator["id"], tid)]
    member_path = f"/app/campaigns/{cid}/members/{creator['id']}"
    await _post(web, member_path, {"cpm_tier_id": ""})
    members = (await f.ok(await client.get(f"/v1/campaigns/{cid}/members")))["data"]
    assert members[0]["cpm_tier_id"] is None

    # The terms again: an override cleared, paused.
    terms = {**TERMS, "status": "paused", "min_views": "", "finalize_after_days": "3"}
    saved = await _post(web, f"/app/campaigns/{cid}", terms)
    assert "Saved the campaign&#39;s terms." in saved.text
    api = await f.ok(await client.get(f"/v1/campaigns/{cid}"))
    assert (api["status"], api["min_views"], api["finalize_after_days"]) == ("paused", None, 3)

    await _post(web, f"{member_path}/remove", {})
    assert (await f.ok(await client.get(f"/v1/campaigns/{cid}/members")))["data"] == []
    await _post(web, f"/app/campaigns/{cid}/tiers/{tid}/delete", {})
    assert (await f.ok(await client.get(f"/v1/campaigns/{cid}/cpm-tiers")))["data"] == []


async def test_what_cannot_be_saved_comes_back_beside_its_field(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    web = await signed_in(app, client, "ops@example.com")
    bad = {
        **TERMS,
        "currency": "EURO",
        "starts_on": "2030-12-01",
        "ends_on": "2030-11-30",
        "min_views": "-3",
        "finalize_after_days": "99",
    }
    page = await _post(web, "/app/campaigns", bad)
    assert page.status_code == 200
    assert "ISO 4217" in _error_of(page.text, "new-currency")
    assert _error_of(page.text, "new-min_views")
    assert 'value="EURO"' in page.text  # the form as sent
    assert (await f.ok(await client.get("/v1/campaigns")))["data"] == []
    # Within the schema, refused by the service: beside the field it names.
    fixed = {**bad, "currency": "EUR", "min_views": "3"}
    page = await _post(web, "/app/campaigns", {**fixed, "starts_on": ""})
    assert "at most 30" in _error_of(page.text, "new-finalize_after_days")
    page = await _post(web, "/app/campaigns", {**fixed, "finalize_after_days": ""})
    assert _error_of(page.text, "new-ends_on") == "The end is before the start."
    assert (await f.ok(await client.get("/v1/campaigns")))["data"] == []

    s = await f.setup_campaign(client)
    cid, tid = s["campaign"]["id"], s["tier"]["id"]
    page = await _post(
        web, f"/app/campaigns/{cid}/tiers", {"name": "Gold", "cpm": "4,50", "cap": ""}
    )
    assert "at most 4 decimals" in _error_of(page.text, "tier-new-cpm")
    page = await _post(
        web, f"/app/campaigns/{cid}/tiers", {"name": "Standard", "cpm": "1", "cap": ""}
    )
    assert _error_of(page.text, "tier-new-name") == "The campaign has a tier by that name."
    # A tier a post uses stays; a finalized post fixes the currency.
    await f.post(client, cid, url="https://www.tiktok.com/@scout2015/video/7330000000000000001")
    page = await _post(web, f"/app/campaigns/{cid}/tiers/{tid}/delete", {})
    assert "Posts use this tier" in page.text
    assert len((await f.ok(await client.get(f"/v1/campaigns/{cid}/cpm-tiers")))["data"]) == 1
    await f.creator(client, "newcomer")  # so that the form has a creator to offer
    page = await _post(
        web, f"/app/campaigns/{cid}/members", {"creator_id": s["tiktok"]["id"], "cpm_tier_id": ""}
    )
    assert (
        _error_of(page.text, "member-new-creator_id") == "The creator is already in the campaign."
    )


async def test_each_role_is_offered_what_the_table_allows_and_refused_the_rest(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid, tid = s["campaign"]["id"], s["tier"]["id"]
    other = await f.campaign(client, name="Other")
    editor = await signed_in(app, client, "ed@example.com", "member", {cid: "campaign_editor"})
    listed = (await editor.get("/app/campaigns")).text
    assert f"/app/campaigns/{cid}" in listed
    assert other["id"] not in listed
    assert "New campaign" not in listed
    page = (await editor.get(f"/app/campaigns/{cid}")).text
    assert f'hx-post="/app/campaigns/{cid}/tiers"' in page  # tiers.manage: yes
    assert f'hx-post="/app/campaigns/{cid}"' not in page  # campaign.terms: no
    assert f'hx-post="/app/campaigns/{cid}/members"' not in page  # roster.manage: no
    forged = await _post(editor, f"/app/campaigns/{cid}", {**TERMS, "name": "Mine"})
    assert "Your role does not allow campaign.terms on this campaign." in forged.text
    assert (await editor.patch(f"/v1/campaigns/{cid}", json={"name": "Mine"})).status_code == 403
    forged = await _post(editor, f"/app/campaigns/{cid}/members/{s['tiktok']['id']}/remove", {})
    assert "does not allow roster.manage" in forged.text
    # Another campaign does not exist for them, as in the API.
    hidden = await editor.post(
        f"/app/campaigns/{other['id']}/tiers", data={"name": "X", "cpm": "1"}, headers=HTMX
    )
    assert hidden.status_code == 404
    assert (await editor.get(f"/app/campaigns/{other['id']}")).status_code == 404
    forged = await _post(editor, "/app/campaigns", TERMS)
    assert "Your role does not allow this." in forged.text
    assert (await editor.post("/v1/campaigns", json={"name": "X"})).status_code == 403
    # What they may do, they do.
    await _post(editor, f"/app/campaigns/{cid}/tiers/{tid}", {"name": "Std", "cpm": "5", "cap": ""})

    admin = await signed_in(app, client, "ca@example.com", "member", {cid: "campaign_admin"})
    page = (await admin.get(f"/app/campaigns/{cid}")).text
    assert f'hx-post="/app/campaigns/{cid}"' in page
    assert f'hx-post="/app/campaigns/{cid}/members/{s["tiktok"]["id"]}/remove"' in page
    await _post(admin, f"/app/campaigns/{cid}", {**TERMS, "name": "Renamed"})

    api = await f.ok(await client.get(f"/v1/campaigns/{cid}"))
    assert api["name"] == "Renamed"
    tier = await f.ok(await client.get(f"/v1/campaigns/{cid}/cpm-tiers"))
    assert [(t["name"], t["cpm"]) for t in tier["data"]] == [("Std", "5.0000")]
    assert len((await f.ok(await client.get(f"/v1/campaigns/{cid}/members")))["data"]) == 2
    assert [c["name"] for c in (await f.ok(await client.get("/v1/campaigns")))["data"]] == [
        "Other",
        "Renamed",
    ]
