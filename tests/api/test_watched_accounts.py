"""Watched accounts through the API (issue 29): create, list, get, pause, filter, delete,
and the refusals."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from app.domain.enums import Role
from tests import factories as f


def _path(campaign_id: str, watch_id: str | None = None) -> str:
    base = f"/v1/campaigns/{campaign_id}/watched-accounts"
    return base if watch_id is None else f"{base}/{watch_id}"


async def test_a_member_s_account_is_watched_once_per_campaign(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    answer = await client.post(
        _path(cid),
        json={
            "creator_id": s["tiktok"]["id"],
            "initial_import": 5,
            "include_hashtags": ["#Ad", "sponsored", "AD"],
            "exclude_hashtags": ["#NotAd"],
        },
    )
    watch = await f.ok(answer, 201)
    assert answer.headers["location"] == f"/v1/campaigns/{cid}/watched-accounts/{watch['id']}"
    assert watch["platform"] == "tiktok"
    assert watch["enabled"] is True
    assert watch["include_hashtags"] == ["ad", "sponsored"]
    assert watch["exclude_hashtags"] == ["notad"]
    assert watch["next_check_at"] is not None  # checked at once
    assert watch["last_outcome"] is None
    assert (watch["videos_seen"], watch["videos_added"]) == (0, 0)
    assert watch["skipped"] == {
        "filtered": 0,
        "outside_window": 0,
        "already_tracked": 0,
        "not_a_video": 0,
        "other_author": 0,
    }
    again = await client.post(_path(cid), json={"creator_id": s["tiktok"]["id"]})
    assert (again.status_code, again.json()["code"]) == (409, "watch_exists")

    insta = await f.ok(
        await client.post(_path(cid), json={"creator_id": s["instagram"]["id"], "enabled": False}),
        201,
    )
    assert insta["next_check_at"] is None
    page = await f.ok(await client.get(_path(cid), params={"limit": 1}))
    assert [w["id"] for w in page["data"]] == [watch["id"]]
    rest = await f.ok(await client.get(_path(cid), params={"cursor": page["next_cursor"]}))
    assert [w["id"] for w in rest["data"]] == [insta["id"]]
    one = await f.ok(await client.get(_path(cid), params={"creator_id": s["instagram"]["id"]}))
    assert [w["id"] for w in one["data"]] == [insta["id"]]
    assert (await f.ok(await client.get(_path(cid, watch["id"]))))["id"] == watch["id"]


async def test_pausing_stops_checks_and_enabling_checks_at_once(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    watch = await f.ok(await client.post(_path(cid), json={"creator_id": s["tiktok"]["id"]}), 201)
    paused = await f.ok(await client.patch(_path(cid, watch["id"]), json={"enabled": False}))
    assert (paused["enabled"], paused["next_check_at"]) == (False, None)
    filtered = await f.ok(
        await client.patch(_path(cid, watch["id"]), json={"exclude_hashtags": ["#Giveaway"]})
    )
    assert filtered["exclude_hashtags"] == ["giveaway"]
    assert filtered["enabled"] is False
    enabled = await f.ok(await client.patch(_path(cid, watch["id"]), json={"enabled": True}))
    assert enabled["enabled"] is True
    assert enabled["next_check_at"] is not None
    refused = await client.patch(_path(cid, watch["id"]), json={"enabled": None})
    assert refused.status_code == 422
    gone = await client.delete(_path(cid, watch["id"]))
    assert gone.status_code == 204
    missing = await client.get(_path(cid, watch["id"]))
    assert (missing.status_code, missing.json()["code"]) == (404, "watched_account_not_found")


async def test_bad_watches_are_refused(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    outsider = await f.creator(client, "not_a_member", "tiktok")

    async def refused(body: dict[str, Any]) -> tuple[int, str]:
        answer = await client.post(_path(cid), json=body)
        assert answer.headers["content-type"].startswith("application/problem+json")
        return answer.status_code, answer.json()["code"]

    assert await refused({"creator_id": outsider["id"]}) == (409, "creator_not_member")
    nobody = "00000000-0000-7000-8000-000000000000"
    assert await refused({"creator_id": nobody}) == (422, "creator_not_found")
    tiktok = s["tiktok"]["id"]
    assert (await refused({"creator_id": tiktok, "initial_import": 7}))[0] == 422
    assert (await refused({"creator_id": tiktok, "include_hashtags": ["two words"]}))[0] == 422
    assert (await refused({"creator_id": tiktok, "include_hashtags": ["#"]}))[0] == 422
    assert (await refused({"creator_id": tiktok, "surprise": 1}))[0] == 422
    other = await f.campaign(client, name="Other")
    watch = await f.ok(await client.post(_path(cid), json={"creator_id": tiktok}), 201)
    wrong_campaign = await client.get(_path(other["id"], watch["id"]))
    assert wrong_campaign.status_code == 404


async def test_a_youtube_channel_can_be_watched(client: httpx.AsyncClient) -> None:
    """Its uploads playlist is listed (by the creator's channel id), as TikTok and Instagram
    accounts are."""
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    channel = await f.youtube_creator(client, "shorts_maker", "UC" + "x" * 22)
    await f.member(client, cid, channel["id"])
    watch = await f.ok(
        await client.post(_path(cid), json={"creator_id": channel["id"], "initial_import": 5}),
        201,
    )
    assert (watch["creator_id"], watch["enabled"]) == (channel["id"], True)
    assert watch["next_check_at"] is not None


async def test_viewers_read_and_editors_watch(
    client: httpx.AsyncClient,
    org: Any,
    make_key: Callable[[Any, Role], Awaitable[str]],
    client_for: Callable[[str | None], httpx.AsyncClient],
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    async with client_for(await make_key(org, Role.VIEWER)) as viewer:
        denied = await viewer.post(_path(cid), json={"creator_id": s["tiktok"]["id"]})
        assert denied.status_code == 403
        assert (await viewer.get(_path(cid))).status_code == 200
    async with client_for(await make_key(org, Role.EDITOR)) as editor:
        made = await editor.post(_path(cid), json={"creator_id": s["tiktok"]["id"]})
        assert made.status_code == 201
    # Another organization's campaign does not exist for this one.
    async with client_for(None) as anonymous:
        assert (await anonymous.get(_path(cid))).status_code == 401
