"""A campaign's post list without filters (the API's hottest request) is written straight from
its rows (app/repositories/posts.plain_page, app/services/post_presenter.page_json): its
answer is the one the filtered list builds through its models, byte for byte, holds, flags,
money and times included, and its cursors are that list's."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Post, PostHold
from tests import factories as f
from tests.conftest import Org

VIDEO = "https://www.tiktok.com/@scout2015/video/{}"


async def _campaign_of_every_shape(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> str:
    """Five posts: one with two open holds and one cleared, one finalized with earnings, a
    flag and a sub-cent-free amount, one paid, one rejected; and an Instagram post."""
    s = await f.setup_campaign(client)
    cid: str = s["campaign"]["id"]
    tiktok = [await f.post(client, cid, url=VIDEO.format(8000 + i)) for i in range(4)]
    await f.post(
        client, cid, url="https://www.instagram.com/p/ABCDEF/", creator_id=s["instagram"]["id"]
    )
    held, finalized, paid, rejected = (p["id"] for p in tiktok)
    for code, cleared in (
        ("author_mismatch", None),
        ("view_spike", None),
        ("x", datetime.now(UTC)),
    ):
        session.add(
            PostHold(
                organization_id=org.id,
                post_id=held,
                code=code,
                reason=f'Held: {code} — ünïcode "quoted"',
                evidence={"seen": [1, 2.5, None], "by": "@someone_else"},
                cleared_at=cleared,
            )
        )
    await session.execute(update(Post).where(Post.id == held).values(open_holds=2))
    await session.execute(
        update(Post)
        .where(Post.id == finalized)
        .values(
            flags=["view_spike"],
            views=1234,
            locked_views=1234,
            earnings=Decimal("5.5"),
            status="finalized",
            finalized_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            locked_observed_at=datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
        )
    )
    await session.execute(
        update(Post)
        .where(Post.id == paid)
        .values(
            status="paid",
            earnings=Decimal("123456789012345678901234.99"),
            paid_at=datetime(2026, 2, 1, tzinfo=UTC),
            payout_reference="wire #7 ✓",
        )
    )
    await session.execute(
        update(Post)
        .where(Post.id == rejected)
        .values(
            status="rejected",
            rejection_code="below_minimum",
            rejection_reason="Fewer than 1,000 views.\n",
            last_error="<html>\u0001",
        )
    )
    await session.commit()
    return cid


async def _pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[httpx.Response]:
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(path, params=query)
        assert answer.status_code == 200, answer.text
        pages.append(answer)
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return pages


async def test_a_campaigns_plain_list_answers_what_the_filtered_list_answers(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    cid = await _campaign_of_every_shape(client, session, org)
    # The same list two ways: the campaign's own (plain: written from rows) and the
    # organization's filtered to the campaign (built through PostPage, as FastAPI writes it).
    for limit in (2, 50):
        plain = await _pages(client, f"/v1/campaigns/{cid}/posts", limit=limit)
        built = await _pages(client, "/v1/posts", campaign_id=cid, limit=limit)
        assert [p.content for p in plain] == [p.content for p in built]
        assert [p.headers["content-type"] for p in plain] == ["application/json"] * len(plain)
    first = (await client.get(f"/v1/campaigns/{cid}/posts")).json()["data"]
    assert len(first) == 5
    held = next(p for p in first if p["holds"])
    assert [h["code"] for h in held["holds"]] == ["author_mismatch", "view_spike"]
    money = {p["status"]: p["earnings"] for p in first}
    assert money["finalized"] == "5.50"
    assert money["paid"] == "123456789012345678901234.99"


async def test_the_plain_list_refuses_another_lists_cursor_and_a_garbled_one(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    cid = await _campaign_of_every_shape(client, session, org)
    path = f"/v1/campaigns/{cid}/posts"
    filtered = (await client.get(path, params={"limit": 1, "status": "tracking"})).json()
    plain = (await client.get(path, params={"limit": 1})).json()
    for cursor, query in (
        (filtered["next_cursor"], {}),
        (plain["next_cursor"], {"status": "tracking"}),
    ):
        other = await client.get(path, params={"cursor": cursor, **query})
        assert (other.status_code, other.json()["code"]) == (422, "invalid_cursor")
        assert "other filters" in other.json()["detail"]
    for garbled in ("bm90LWEtY3Vyc29y", "WyJub3QtYS11dWlkIiwiYWJjIl0"):
        answer = await client.get(path, params={"cursor": garbled})
        assert (answer.status_code, answer.json()["code"]) == (422, "invalid_cursor")
    missing = await client.get("/v1/campaigns/01a24a66-e2d4-789a-8d5c-70d2ec611300/posts")
    assert (missing.status_code, missing.json()["code"]) == (404, "campaign_not_found")
