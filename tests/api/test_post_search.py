"""The post list's search, "has a hold" and "has a flag" filters (what the dashboard's Posts
table asks the API for), their cursors, and the list's CSV (`GET /v1/posts.csv`)."""

import csv
import io
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Post, PostHold
from tests import factories as f
from tests.conftest import Org

VIDEO = "https://www.tiktok.com/@scout2015/video/{}"


async def _world(client: httpx.AsyncClient, session: AsyncSession, org: Org) -> dict[str, Any]:
    """Three TikTok posts by @scout2015 (one held, one flagged) and one Instagram post by
    @natgeo."""
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    tiktok = [await f.post(client, cid, url=VIDEO.format(7000 + i)) for i in range(3)]
    insta = await f.post(
        client, cid, url="https://www.instagram.com/p/ABCDEF/", creator_id=s["instagram"]["id"]
    )
    held, flagged = tiktok[0]["id"], tiktok[1]["id"]
    session.add(
        PostHold(
            organization_id=org.id,
            post_id=held,
            code="author_mismatch",
            reason="The platform says @someone_else posted it.",
        )
    )
    await session.execute(update(Post).where(Post.id == held).values(open_holds=1))
    await session.execute(
        update(Post)
        .where(Post.id == flagged)
        .values(flags=["view_spike"], views=1234, earnings=Decimal("5.55"), status="finalized")
    )
    await session.commit()
    return {**s, "tiktok_posts": tiktok, "insta_post": insta, "held": held, "flagged": flagged}


async def _ids(client: httpx.AsyncClient, **params: Any) -> set[str]:
    page = await f.ok(await client.get("/v1/posts", params=params))
    return {p["id"] for p in page["data"]}


async def test_search_finds_posts_by_handle_post_id_and_url(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    w = await _world(client, session, org)
    tiktok = {p["id"] for p in w["tiktok_posts"]}
    one = w["tiktok_posts"][2]
    assert await _ids(client, q="scout") == tiktok  # the start of a handle
    assert await _ids(client, q="@SCOUT2015") == tiktok  # any case, @ optional
    assert await _ids(client, q="nat") == {w["insta_post"]["id"]}
    assert await _ids(client, q="cout") == set()  # a prefix, not any substring
    assert await _ids(client, q="7002") == {one["id"]}  # the platform's id
    assert await _ids(client, q=one["id"]) == {one["id"]}  # ours
    assert await _ids(client, q=VIDEO.format(7002) + "?is_from_webapp=1") == {one["id"]}
    assert await _ids(client, q="instagram.com/reel/ABCDEF") == {w["insta_post"]["id"]}
    assert await _ids(client, q="100%_") == set()  # LIKE's wildcards are plain text here
    assert await _ids(client, q="scout", platform="instagram") == set()  # with the filters
    bad = await client.get("/v1/posts", params={"q": "x" * 201})
    assert bad.status_code == 422


async def test_has_hold_and_has_flag_filter_both_ways(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    w = await _world(client, session, org)
    every = {p["id"] for p in w["tiktok_posts"]} | {w["insta_post"]["id"]}
    assert await _ids(client, has_hold="true") == {w["held"]}
    assert await _ids(client, has_hold="false") == every - {w["held"]}
    assert await _ids(client, has_flag="true") == {w["flagged"]}
    assert await _ids(client, has_flag="false") == every - {w["flagged"]}
    assert await _ids(client, has_hold="true", has_flag="true") == set()
    cid = w["campaign"]["id"]
    page = await f.ok(await client.get(f"/v1/campaigns/{cid}/posts", params={"has_hold": "1"}))
    assert [p["id"] for p in page["data"]] == [w["held"]]
    bad = await client.get("/v1/posts", params={"has_flag": "maybe"})
    assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")


async def test_a_cursor_is_bound_to_its_search_and_filters(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    await _world(client, session, org)
    first = await f.ok(await client.get("/v1/posts", params={"q": "scout", "limit": 1}))
    cursor = first["next_cursor"]
    assert cursor is not None
    for other in ({"q": "scou"}, {"q": "scout", "has_hold": "false"}, {"has_flag": "true"}):
        moved = await client.get("/v1/posts", params={**other, "limit": 1, "cursor": cursor})
        assert (moved.status_code, moved.json()["code"]) == (422, "invalid_cursor"), other
    same = await client.get("/v1/posts", params={"q": "scout", "limit": 1, "cursor": cursor})
    assert same.status_code == 200


def _read(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


async def test_the_csv_is_the_list_s_rows_with_its_filter_and_opens_safely(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    w = await _world(client, session, org)
    # A campaign name someone typed as a formula.
    await f.ok(
        await client.patch(f"/v1/campaigns/{w['campaign']['id']}", json={"name": "=HYPERLINK(1)"})
    )
    answer = await client.get("/v1/posts.csv", params={"platform": "tiktok", "sort": "views"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in answer.headers["content-disposition"]
    assert b"\r\n" in answer.content  # RFC 4180's line ends
    rows = _read(answer.content)
    listed = await f.ok(
        await client.get("/v1/posts", params={"platform": "tiktok", "sort": "views"})
    )
    assert [r["post_id"] for r in rows] == [p["id"] for p in listed["data"]]
    flagged = next(r for r in rows if r["post_id"] == w["flagged"])
    assert flagged["campaign"] == "'=HYPERLINK(1)"
    assert flagged["platform_post_id"] == "'7001"  # digits stay text, exact
    assert (flagged["views"], flagged["earnings"], flagged["currency"]) == ("1234", "5.55", "USD")
    assert (flagged["status"], flagged["flags"], flagged["holds"]) == (
        "finalized",
        "view_spike",
        "",
    )
    held = next(r for r in rows if r["post_id"] == w["held"])
    assert (held["holds"], held["creator_handle"], held["earnings"]) == (
        "author_mismatch",
        "scout2015",
        "",
    )
    searched = _read((await client.get("/v1/posts.csv", params={"q": "nat"})).content)
    assert [r["post_id"] for r in searched] == [w["insta_post"]["id"]]
    assert searched[0]["shares"] == ""  # Instagram reports none
    nothing = _read((await client.get("/v1/posts.csv", params={"q": "nobody"})).content)
    assert nothing == []
    refused = await client.get("/v1/posts.csv", params={"cursor": "abc", "unknown": "1"})
    assert refused.status_code == 422
    # A published range (times, read back as the list reads them): the list's rows, not a
    # body cut short (the drill's fuzzer found every ranged CSV broken).
    ranged = {"published_from": "2000-01-01T00:00:00Z", "published_to": "2100-01-01T00:00:00Z"}
    in_range = _read((await client.get("/v1/posts.csv", params=ranged)).content)
    listed = await f.ok(await client.get("/v1/posts", params=ranged))
    assert [r["post_id"] for r in in_range] == [p["id"] for p in listed["data"]]


async def test_the_csv_reads_past_one_page(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, monkeypatch: Any
) -> None:
    from app.services import post_lists

    monkeypatch.setattr(post_lists, "CSV_PAGE", 2)
    w = await _world(client, session, org)
    rows = _read((await client.get("/v1/posts.csv", params={"sort": "created_at"})).content)
    made = [*w["tiktok_posts"], w["insta_post"]]
    assert [r["post_id"] for r in rows] == [p["id"] for p in made]
