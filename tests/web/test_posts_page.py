"""The Posts table at /app/posts over HTTP: the API's list with the API's reach (a member sees
only their campaigns' posts, in the page and in its CSV), filters read from the address with a
message for a bad one (never a 500), the htmx fragment, and only the actions the viewer may
take offered."""

import csv
import io
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Campaign
from tests import factories as f
from tests.conftest import MakeOrg
from tests.web.session_kit import flag, hold, signed_in

PAGE = "/app/posts"


def _url(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7_330_000_000_000_000_000 + n}"


async def _world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Campaign A: three TikTok posts by @scout2015 and one Instagram post by @natgeo;
    campaign B: one post by @only_in_b."""
    s = await f.setup_campaign(client)
    a = s["campaign"]["id"]
    posts_a = [await f.post(client, a, url=_url(n)) for n in range(3)]
    insta = await f.post(
        client, a, url="https://www.instagram.com/p/CxYz123/", creator_id=s["instagram"]["id"]
    )
    b = await f.campaign(client, name="Campaign B")
    only_b = await f.creator(client, "only_in_b")
    await f.member(client, b["id"], only_b["id"])
    post_b = await f.post(client, b["id"], url="https://www.tiktok.com/@only_in_b/video/99")
    return {**s, "a": a, "b": b["id"], "posts_a": [*posts_a, insta], "post_b": post_b}


def _rows(html: str) -> int:
    return html.count('name="post_id"')


async def test_a_member_sees_only_their_campaign_s_posts_and_csv(
    app: object, client: httpx.AsyncClient
) -> None:
    w = await _world(client)
    member = await signed_in(app, client, "ed@example.com", "member", {w["a"]: "campaign_editor"})
    page = await member.get(PAGE)
    assert page.status_code == 200
    assert _rows(page.text) == 4
    assert "only_in_b" not in page.text
    assert "Campaign B" not in page.text  # not offered as a filter either
    other = await member.get(PAGE, params={"campaign_id": w["b"]})  # named in the address
    assert (other.status_code, _rows(other.text)) == (200, 0)
    assert "No posts match these filters." in other.text
    exported = await member.get("/app/posts.csv")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert sorted(r["post_id"] for r in lines) == sorted(p["id"] for p in w["posts_a"])
    admin = await signed_in(app, client, "ops@example.com")
    assert _rows((await admin.get(PAGE)).text) == 5


async def test_the_campaigns_offered_are_kept_a_few_seconds_per_reach_and_read_after_writes(
    app: object,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: MakeOrg,
    client_for: object,
) -> None:
    """The filter's campaigns are kept a few seconds per organization and reach
    (app.web.choices), as sessions are: two organizations' admins, and a member of one
    campaign, are each offered their own; a rename made where this process does not see it
    (another API process) shows once any write is answered here."""
    w = await _world(client)
    admin = await signed_in(app, client, "ann@example.com")
    member = await signed_in(app, client, "mo@example.com", "member", {w["a"]: "campaign_editor"})
    async with client_for((await make_org("Other brand")).key) as theirs:  # type: ignore[operator]
        await f.campaign(theirs, name="Their campaign")
        stranger = await signed_in(app, theirs, "them@example.com")
    assert "Campaign B" in (await admin.get(PAGE)).text
    offered = (await member.get(PAGE)).text
    assert "Campaign B" not in offered
    assert "Summer launch" in offered
    offered = (await stranger.get(PAGE)).text
    assert "Their campaign" in offered
    assert "Summer launch" not in offered
    assert "Their campaign" not in (await admin.get(PAGE)).text
    await session.execute(update(Campaign).where(Campaign.id == w["b"]).values(name="Renamed"))
    await session.commit()
    assert "Renamed" not in (await admin.get(PAGE)).text  # kept
    await f.campaign(client, name="Campaign C")  # a write answered here, by anyone
    offered = (await admin.get(PAGE)).text
    assert "Renamed" in offered
    assert "Campaign C" in offered
    assert "Renamed" not in (await member.get(PAGE)).text


async def test_a_member_with_no_campaign_sees_nothing_and_is_offered_nothing(
    app: object, client: httpx.AsyncClient
) -> None:
    await _world(client)
    nobody = await signed_in(app, client, "viewer@example.com", "member")
    page = await nobody.get(PAGE)
    assert page.status_code == 200
    assert "No posts match these filters." in page.text
    for action in ("Reject", "Clear hold", "Restore", "Refresh now", "Assign tier"):
        assert f">{action}</button>" not in page.text


async def test_filters_search_and_the_fragment_answer_the_api_s_rows(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    w = await _world(client)
    await hold(session, w["posts_a"][0])
    await flag(session, w["posts_a"][1])
    admin = await signed_in(app, client, "ops@example.com")

    async def shown(**params: str) -> int:
        return _rows((await admin.get(PAGE, params=params)).text)

    assert await shown(q="@nat") == 1
    assert await shown(q="7330000000000000002") == 1
    assert await shown(hold="any") == 1
    assert await shown(hold="none") == 4
    assert await shown(hold="author_mismatch") == 1
    assert await shown(flag="view_spike") == 1
    assert await shown(flag="any", hold="any") == 0
    assert await shown(platform="instagram", campaign_id=w["a"]) == 1
    assert await shown(status="held") == 1
    assert await shown(creator_id=w["tiktok"]["id"]) == 3
    # Each row's creator links to this filter, first page, that creator only.
    text = (await admin.get(PAGE, params={"platform": "tiktok", "sort": "-views"})).text
    only = f'href="/app/posts?platform=tiktok&amp;sort=-views&amp;creator_id={w["tiktok"]["id"]}"'
    assert only in text
    assert await shown(published_from="2000-01-01", published_to="2999-12-31") == 5
    # A campaign chosen: its tiers are offered for assigning.
    chosen = await admin.get(PAGE, params={"campaign_id": w["a"]})
    assert f'<option value="{w["a"]}" selected>Summer launch</option>' in chosen.text
    assert f'<option value="{w["b"]}">Campaign B</option>' in chosen.text
    assert ">Assign tier</button>" in chosen.text
    assert w["tier"]["id"] in chosen.text
    # What htmx asks for when a filter changes: the list's region alone.
    fragment = await admin.get(
        PAGE, params={"q": "scout"}, headers={"HX-Request": "true", "HX-Target": "posts-results"}
    )
    assert "<html" not in fragment.text
    assert 'id="posts-results"' in fragment.text
    assert _rows(fragment.text) == 3


async def test_a_status_filter_offers_only_the_actions_its_posts_may_take(
    app: object, client: httpx.AsyncClient
) -> None:
    w = await _world(client)
    admin = await signed_in(app, client, "ops@example.com")

    async def offered(**params: str | list[str]) -> set[str]:
        text = (await admin.get(PAGE, params={"campaign_id": w["a"], **params})).text
        actions = ("Assign tier", "Reject", "Restore", "Clear hold", "Refresh now")
        return {a for a in actions if f">{a}</button>" in text}

    everything = {"Assign tier", "Reject", "Restore", "Clear hold", "Refresh now"}
    assert await offered() == everything  # any status may be listed
    # Finalized posts: their tier and earnings are locked, and none is rejected.
    assert await offered(status="finalized") == {"Reject", "Clear hold", "Refresh now"}
    assert await offered(status="rejected") == {"Restore", "Clear hold", "Refresh now"}
    assert await offered(status="held") == everything - {"Restore"}
    assert await offered(status="paid") == {"Clear hold", "Refresh now"}
    # Any of several statuses: what any of them may take.
    assert await offered(status=["paid", "rejected"]) == {"Restore", "Clear hold", "Refresh now"}
    # Without a campaign no tier can be chosen; the page says how, unless none could be
    # assigned to the statuses listed anyway.
    hint = "Choose a campaign to assign one of its tiers."
    assert hint in (await admin.get(PAGE)).text
    assert hint not in (await admin.get(PAGE, params={"status": "finalized"})).text
    # A campaign without tiers: nothing to assign, and the page says why.
    bare = await f.campaign(client, name="No tiers")
    text = (await admin.get(PAGE, params={"campaign_id": bare["id"]})).text
    assert ">Assign tier</button>" not in text
    assert "This campaign has no CPM tiers yet" in text


async def test_pages_follow_the_cursor_and_sorting_is_by_the_api_s_keys(
    app: object, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.web import posts_page

    monkeypatch.setattr(posts_page, "PAGE_SIZE", 2)
    await _world(client)
    admin = await signed_in(app, client, "ops@example.com")
    seen: list[str] = []
    url: str | None = PAGE + "?sort=-views"
    for _ in range(5):  # 5 posts, 2 a page: 3 pages (bounded, should a link go wrong)
        if url is None:
            break
        answer = (await admin.get(url)).text
        seen += [chunk.split('"')[0] for chunk in answer.split('name="post_id" value="')[1:]]
        url = (
            answer.split(">Next page</a>")[0].rsplit('href="', 1)[1].split('"')[0]
            if ">Next page</a>" in answer
            else None
        )
        url = url.replace("&amp;", "&") if url else None
    assert len(seen) == len(set(seen)) == 5
    assert 'aria-sort="descending"' in (await admin.get(PAGE, params={"sort": "-views"})).text


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"status": "lost"}, "Status: Input should be"),
        ({"platform": "myspace"}, "Platform: Input should be"),
        ({"published_from": "yesterday"}, "Published from: give a date like"),
        ({"published_to": "2026-13-45"}, "Published to: give a date like"),
        ({"q": "x" * 201}, "Search: String should have at most 200 characters"),
        ({"campaign_id": "not-a-uuid"}, "That campaign is not one of yours"),
        ({"creator_id": "42"}, "That creator is not one of yours"),
        ({"flag": "glitter"}, "Flag: Input should be"),
        ({"hold": "Bad Code"}, "Hold: String should match pattern"),
        ({"sort": "likes"}, "Sort: Input should be"),
        ({"cursor": "%%%"}, "Cursor: String should match pattern"),
    ],
)
async def test_a_bad_filter_is_a_message_not_an_error(
    app: object, client: httpx.AsyncClient, params: dict[str, str], says: str
) -> None:
    admin = await signed_in(app, client, "ops@example.com")
    for path in (PAGE, "/app/posts.csv"):
        answer = await admin.get(path, params=params)
        assert answer.status_code == 200, path
        assert says in answer.text, (path, answer.text[-3000:])
        assert 'role="alert"' in answer.text


async def test_a_cursor_of_other_filters_starts_again_at_the_first_page(
    app: object, client: httpx.AsyncClient
) -> None:
    await _world(client)
    first = await f.ok(await client.get("/v1/posts", params={"limit": 1, "sort": "views"}))
    admin = await signed_in(app, client, "ops@example.com")
    answer = await admin.get(PAGE, params={"cursor": first["next_cursor"]})
    assert answer.status_code == 200
    assert "That page belongs to other filters" in answer.text
    assert _rows(answer.text) == 5


async def test_a_link_with_a_parameter_the_page_does_not_know_still_opens_it(
    app: object, client: httpx.AsyncClient
) -> None:
    """A page is not an API operation: a tracking tag on a shared link is ignored, while the
    API still refuses an unknown parameter (its contract)."""
    await _world(client)
    admin = await signed_in(app, client, "ops@example.com")
    answer = await admin.get(PAGE, params={"utm_source": "newsletter"})
    assert (answer.status_code, _rows(answer.text)) == (200, 5)
    refused = await client.get("/v1/posts", params={"utm_source": "newsletter"})
    assert refused.json()["code"] == "unknown_parameter"


async def test_what_callers_wrote_is_shown_as_text_never_as_markup(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The rows are written outside the template's autoescaping (app.web.post_rows): a
    campaign's name, a hold's reason and a rejection's reason are shown, escaped."""
    c = await f.campaign(client, name='<script>alert("name")</script> & Co')
    scout = await f.creator(client, "scout2015")
    await f.member(client, c["id"], scout["id"])
    held = await f.post(client, c["id"], url=_url(1))
    await hold(session, held, reason="<img src=x onerror=alert('hold')>")
    rejected = await f.post(client, c["id"], url=_url(2))
    refused = await client.post(
        f"/v1/posts/{rejected['id']}/reject", json={"reason": "<b onclick=alert(1)>spam</b>"}
    )
    assert refused.status_code == 200, refused.text
    admin = await signed_in(app, client, "ops@example.com")
    # Both reads of the list: the organization's (list_page) and a campaign's (its plain read).
    for params in ({}, {"campaign_id": c["id"]}):
        page = (await admin.get(PAGE, params=params)).text
        assert _rows(page) == 2
        for raw in ("<script>alert", "<img src=x", "<b onclick"):
            assert raw not in page
        assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; &amp; Co" in page
        assert "&lt;img src=x onerror=alert(&#x27;hold&#x27;)&gt;" in page
        assert "&lt;b onclick=alert(1)&gt;spam&lt;/b&gt;" in page


def _tbody(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


async def test_a_campaign_s_table_reads_the_same_rows_either_way(
    app: object, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign's newest posts are read by the API's plain read with the handles in the
    same statement (app.web.posts_page._page); any other filter by list_page. The same
    campaign through a filter that matches every post (a published range) must show the same
    rows, byte for byte, page after page: handles, holds, flags, names and the next page."""
    from app.web import posts_page

    monkeypatch.setattr(posts_page, "PAGE_SIZE", 2)
    w = await _world(client)
    await hold(session, w["posts_a"][0])
    await flag(session, w["posts_a"][1])
    admin = await signed_in(app, client, "ops@example.com")
    member = await signed_in(app, client, "ed@example.com", "member", {w["a"]: "campaign_editor"})
    everything = "&published_from=2000-01-01"
    for who in (admin, member):
        pages = []
        for extra in ("", everything):
            url: str | None = PAGE + f"?campaign_id={w['a']}{extra}"
            seen = []
            for _ in range(3):  # 4 posts, 2 a page
                if url is None:
                    break
                answer = (await who.get(url)).text
                seen.append(_tbody(answer))
                url = (
                    answer.split(">Next page</a>")[0].rsplit('href="', 1)[1].split('"')[0]
                    if ">Next page</a>" in answer
                    else None
                )
                url = url.replace("&amp;", "&") if url else None
            pages.append(seen)
        plain, filtered = pages
        # A creator's link keeps the page's filter; the rest is the same.
        filtered = [rows.replace("&amp;published_from=2000-01-01", "") for rows in filtered]
        assert len(plain) == 2
        assert plain == filtered
        rows = "".join(plain)
        assert rows.count("<tr>") == 4
        for shown in ("@scout2015", "@natgeo", "Hold: Author mismatch", "Flag: View spike"):
            assert shown in rows
