"""Creators and campaign members through the API."""

import httpx

from tests import factories as f


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


async def test_creators_are_searched_by_the_start_of_their_handle(
    client: httpx.AsyncClient,
) -> None:
    """`q`: what the dashboard's search box asks (the post lists' handle search)."""
    scout = await f.creator(client, "Scout2015")
    await f.creator(client, "scouting_100")
    await f.creator(client, "natgeo")
    insta = await f.creator(client, "scout_ig", "instagram")

    async def handles(**params: str) -> list[str]:
        page = await f.ok(await client.get("/v1/creators", params=params))
        return sorted(c["handle"] for c in page["data"])

    assert await handles(q="@SCOUT") == ["Scout2015", "scout_ig", "scouting_100"]
    assert await handles(q=" scout2", platform="tiktok") == [scout["handle"]]
    # `_` is a handle's character, not LIKE's "any one character".
    assert await handles(q="scout_") == [insta["handle"]]
    assert await handles(q="zz") == []
    for bad in ("", "   ", "x" * 101):
        answer = await client.get("/v1/creators", params={"q": bad})
        assert answer.status_code == 422, bad


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
