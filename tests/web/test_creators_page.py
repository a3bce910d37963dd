"""Creators (/app/creators): added as the API adds them, with the access code shown in that
answer only (a new one on the creator's page, the same way), searched by the start of a
handle as `GET /v1/creators?q=` searches, a creator's page with their posts and renames; a
member of some campaigns sees their campaigns' creators and is refused the rest, as the API
refuses them."""

import re
import uuid

import httpx
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CreatorRename, Post
from app.services import access_codes
from tests import factories as f
from tests.web.session_kit import signed_in

HTMX = {"HX-Request": "true"}
CODE = re.compile(r'<p class="code"><code>([0-9A-Z-]{19})</code></p>')
URL = "https://www.tiktok.com/@scout2015/video/7330000000000000001"


async def _holder(session: AsyncSession, code: str) -> uuid.UUID | None:
    """Whose code it is, as the portal and Discord's /link ask."""
    creator = await access_codes.creator_for(session, code)
    return None if creator is None else creator.id


async def test_a_creator_added_shows_its_access_code_once(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    web = await signed_in(app, client, "ops@example.com")
    assert 'hx-post="/app/creators"' in (await web.get("/app/creators")).text
    sent = {"platform": "tiktok", "handle": " @Scout2015 ", "platform_user_id": ""}
    added = await web.post("/app/creators", data=sent, headers=HTMX)
    assert added.status_code == 200
    api = (await f.ok(await client.get("/v1/creators", params={"handle": "scout2015"})))["data"]
    assert [(c["handle"], c["platform_user_id"]) for c in api] == [("Scout2015", None)]
    cid = api[0]["id"]
    assert added.headers["HX-Push-Url"] == f"/app/creators/{cid}"
    first = CODE.search(added.text)
    assert first, "the code is shown in the answer that made it"
    assert await _holder(session, first.group(1)) == uuid.UUID(cid)
    page = (await web.get(f"/app/creators/{cid}")).text
    assert not CODE.search(page)
    assert first.group(1) not in page
    assert 'href="http://test/portal"' in page

    issued = await web.post(f"/app/creators/{cid}/access-code", headers=HTMX)
    second = CODE.search(issued.text)
    assert second
    assert second.group(1) != first.group(1)
    assert await _holder(session, first.group(1)) is None  # the old code stops working
    assert await _holder(session, second.group(1)) == uuid.UUID(cid)

    again = await web.post("/app/creators", data={**sent, "handle": "scout2015"}, headers=HTMX)
    assert re.search(
        r'id="creator-new-handle-error">A creator with that handle already exists', again.text
    )
    assert 'value="scout2015"' in again.text  # the form as sent, open
    bad = await web.post("/app/creators", data={**sent, "handle": "no spaces"}, headers=HTMX)
    assert 'id="creator-new-handle-error">1 to 64 letters' in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert len((await f.ok(await client.get("/v1/creators")))["data"]) == 1


async def test_the_list_searches_as_the_api_and_a_creator_s_page_tells_their_story(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    await f.creator(client, "scouting_100")
    post = await f.post(client, s["campaign"]["id"], url=URL)
    scout = s["tiktok"]
    org = await session.scalar(select(Post.organization_id).where(Post.id == uuid.UUID(post["id"])))
    session.add(
        CreatorRename(
            organization_id=org,
            creator_id=uuid.UUID(scout["id"]),
            old_handle="scout_old",
            new_handle="scout2015",
            post_id=uuid.UUID(post["id"]),
        )
    )
    await session.commit()
    web = await signed_in(app, client, "ops@example.com")
    listed = (await web.get("/app/creators", params={"q": "@SCOUT"})).text
    api = await f.ok(await client.get("/v1/creators", params={"q": "@SCOUT"}))
    shown = re.findall(r'<a href="/app/creators/([0-9a-f-]{36})">@', listed)
    assert shown == [c["id"] for c in api["data"]]
    assert len(shown) == 2
    assert "natgeo" not in listed

    page = (await web.get(f"/app/creators/{scout['id']}")).text
    assert f'href="/app/posts/{post["id"]}"' in page
    assert f'href="/app/posts?creator_id={scout["id"]}"' in page
    assert "@scout_old" in page
    assert "Rename history" in page
    assert "Issue a new access code" in page
    history = await f.ok(await client.get(f"/v1/creators/{scout['id']}/history"))
    assert [(r["old_handle"], r["new_handle"]) for r in history["data"]] == [
        ("scout_old", "scout2015")
    ]


async def test_a_member_sees_their_campaigns_creators_and_is_refused_the_rest(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    outsider = await f.creator(client, "outsider")
    made = await f.ok(
        await client.post("/v1/creators", json={"platform": "tiktok", "handle": "kept"}), 201
    )
    member = await signed_in(app, client, "ca@example.com", "member", {cid: "campaign_admin"})
    listed = (await member.get("/app/creators")).text
    api = await f.ok(await member.get("/v1/creators"))
    assert {c["handle"] for c in api["data"]} == {"scout2015", "natgeo"}
    assert "@scout2015" in listed
    assert "@natgeo" in listed
    assert "@outsider" not in listed
    assert 'hx-post="/app/creators"' not in listed  # adding creators is not theirs
    assert f'href="/app/creators/{s["tiktok"]["id"]}"' not in listed  # nor a creator's page
    assert (await member.get(f"/v1/creators/{s['tiktok']['id']}")).status_code == 403
    assert (await member.get(f"/app/creators/{s['tiktok']['id']}")).status_code == 404

    forged = await member.post(
        "/app/creators", data={"platform": "tiktok", "handle": "mine"}, headers=HTMX
    )
    assert "Your role does not allow this." in forged.text
    assert (
        await member.post("/v1/creators", json={"platform": "tiktok", "handle": "m"})
    ).status_code == 403
    rotated = await member.post(f"/app/creators/{made['id']}/access-code", headers=HTMX)
    assert rotated.status_code == 404
    assert not CODE.search(rotated.text)
    assert await _holder(session, made["access_code"]) == uuid.UUID(made["id"])  # unchanged
    handles = {c["handle"] for c in (await f.ok(await client.get("/v1/creators")))["data"]}
    assert handles == {"scout2015", "natgeo", "outsider", "kept"}
    assert outsider["id"]

    nobody = await signed_in(app, client, "new@example.com", "member")
    home = (await nobody.get("/app/creators")).text
    assert 'href="/app/creators"' not in home.split("<main", 1)[0]  # not in the navigation
    assert "None of your campaigns is open to you" in home
