"""Watched accounts on a creator's page (issue 29): an editor starts watching the account in
one of the creator's campaigns, pauses and enables it and sets its filters, as the API does;
what the API refuses, the page says; a campaign editor (who may not add posts) is refused."""

import re

import httpx
from redis.asyncio import Redis

from tests import factories as f
from tests.web.session_kit import signed_in

HTMX = {"HX-Request": "true"}


async def test_an_editor_watches_pauses_and_filters_from_the_creator_s_page(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid, creator = s["campaign"]["id"], s["tiktok"]["id"]
    web = await signed_in(app, client, "ops@example.com")
    page = (await web.get(f"/app/creators/{creator}")).text
    assert "Not watched in any campaign." in page
    assert f'hx-post="/app/creators/{creator}/watches"' in page
    sent = {
        "campaign_id": cid,
        "initial_import": "5",
        "include_hashtags": "#Ad, sponsored",
        "exclude_hashtags": "",
    }
    made = await web.post(f"/app/creators/{creator}/watches", data=sent, headers=HTMX)
    assert made.status_code == 200
    api = (await f.ok(await client.get(f"/v1/campaigns/{cid}/watched-accounts")))["data"]
    assert [(w["initial_import"], w["include_hashtags"], w["enabled"]) for w in api] == [
        (5, ["ad", "sponsored"], True)
    ]
    wid = api[0]["id"]
    assert "Watching" in made.text
    assert "only #ad #sponsored" in made.text
    # The campaign is watched now: it is no longer offered.
    assert f'hx-post="/app/creators/{creator}/watches"' not in made.text

    paused = await web.post(
        f"/app/creators/{creator}/watches/{wid}", data={"change": "pause"}, headers=HTMX
    )
    assert "Paused" in paused.text
    watch = await f.ok(await client.get(f"/v1/campaigns/{cid}/watched-accounts/{wid}"))
    assert (watch["enabled"], watch["next_check_at"]) == (False, None)
    filters = {"change": "filters", "include_hashtags": "", "exclude_hashtags": "#Giveaway"}
    await web.post(f"/app/creators/{creator}/watches/{wid}", data=filters, headers=HTMX)
    watch = await f.ok(await client.get(f"/v1/campaigns/{cid}/watched-accounts/{wid}"))
    assert (watch["include_hashtags"], watch["exclude_hashtags"]) == ([], ["giveaway"])

    bad = {"change": "filters", "include_hashtags": "a#b", "exclude_hashtags": ""}
    refused = await web.post(f"/app/creators/{creator}/watches/{wid}", data=bad, headers=HTMX)
    assert re.search(r'<p class="error" role="alert">[^<]+</p>', refused.text)
    watch = await f.ok(await client.get(f"/v1/campaigns/{cid}/watched-accounts/{wid}"))
    assert watch["exclude_hashtags"] == ["giveaway"]  # unchanged


async def test_a_campaign_editor_is_not_offered_watching_and_is_refused_it(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid, creator = s["campaign"]["id"], s["tiktok"]["id"]
    watch = await f.ok(
        await client.post(f"/v1/campaigns/{cid}/watched-accounts", json={"creator_id": creator}),
        201,
    )
    web = await signed_in(
        app, client, "editor@example.com", role="member", campaign_roles={cid: "campaign_editor"}
    )
    # A creator's page is not theirs to see (as GET /v1/creators/{id} refuses them)...
    page = (await web.get(f"/app/creators/{creator}")).text
    assert f'hx-post="/app/creators/{creator}/watches/{watch["id"]}"' not in page
    # ...and a forged pause is refused: their campaign role does not allow posts.add.
    forged = await web.post(
        f"/app/creators/{creator}/watches/{watch['id']}", data={"change": "pause"}, headers=HTMX
    )
    assert "Watching" not in forged.text
    still = await f.ok(await client.get(f"/v1/campaigns/{cid}/watched-accounts/{watch['id']}"))
    assert still["enabled"] is True
