"""Needs attention at /app: every kind of thing waiting for a person, oldest first, only of
the viewer's campaigns, with actions offered where their role allows them."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiKey, Campaign, PostImport, PostImportLine
from app.web import inbox as inbox_page
from app.web.waiting import WaitingCounts
from tests import factories as f
from tests.web.session_kit import flag, hold, pending_cpm, set_post, signed_in


def _url(handle: str, n: int) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{7_330_000_000_000_000_000 + n}"


async def _campaign(
    client: httpx.AsyncClient, name: str, handle: str, first: int
) -> dict[str, Any]:
    c = await f.campaign(client, name=name)
    t = await f.tier(client, c["id"], name=f"{name} tier")
    creator = await f.creator(client, handle)
    await f.member(client, c["id"], creator["id"])
    posts = [await f.post(client, c["id"], url=_url(handle, first + n)) for n in range(4)]
    return {"campaign": c, "tier": t, "posts": posts}


async def _failed_line(session: AsyncSession, campaign_id: str) -> None:
    """A bulk import's line the worker could not add (its outcomes: tests/workers)."""
    org = await _org(session, campaign_id)
    key_id = await session.scalar(select(ApiKey.id).where(ApiKey.organization_id == org))
    row = PostImport(
        organization_id=org,
        campaign_id=uuid.UUID(campaign_id),
        api_key_id=key_id,
        total=1,
        done=1,
        finished_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    await session.execute(
        insert(PostImportLine).values(
            import_id=row.id,
            line=1,
            url="https://www.tiktok.com/@stranger/video/1",
            outcome="not_member",
            detail="The creator is not a member of the campaign.",
            handled_at=datetime.now(UTC),
        )
    )
    await session.commit()


async def _org(session: AsyncSession, campaign_id: str) -> uuid.UUID:
    campaign = await session.get(Campaign, uuid.UUID(campaign_id))
    assert campaign is not None
    return campaign.organization_id


async def _seed(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, Any]:
    a = await _campaign(client, "Spring", "ana_posts", 0)
    b = await _campaign(client, "Autumn", "bo_posts", 10)
    held, flagged, pending, refused = a["posts"]
    evidence = {"expected": {"handle": "ana_posts"}, "found": {"handle": "impostor"}}
    await hold(session, held, "author_mismatch", "Posted by someone else.", evidence)
    await flag(session, flagged, "view_spike", "Views jumped 12x in a day.")
    await pending_cpm(session, pending, views=1_500)
    await set_post(
        session,
        refused["id"],
        last_error_code="private",
        last_error="The video is private.",
        last_error_at=datetime.now(UTC),
        consecutive_failures=3,
    )
    await pending_cpm(session, b["posts"][0], views=9_999)
    await hold(session, b["posts"][1], "outside_campaign_window", "Published before the start.")
    await _failed_line(session, a["campaign"]["id"])
    return {"a": a, "b": b}


async def test_the_inbox_shows_each_kind_with_its_evidence_and_actions(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _seed(client, session)
    admin = await signed_in(app, client, "ops@example.com")
    page = await admin.get("/app")
    assert page.status_code == 200
    text = page.text
    for words in (
        "The platform says @impostor posted it; the member is @ana_posts.",
        "Views jumped 12x in a day.",
        "Spring tier",  # the pending_cpm post's campaign's tiers, inline
        "The video is private.",
        "The creator is not a member of the campaign.",
        "Clear selected",
        "Resolve selected",
        "Assign to selected",
        "Reject selected",
    ):
        assert words in text, words
    assert text.index("Author mismatch") < text.index("Outside campaign window")
    # The navigation's count: two holds, a flag, two pending, a refused post, a failed line.
    assert 'aria-label="7 waiting"' in text


async def test_every_page_counts_what_waits_as_the_inbox_does(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The navigation's number on another page (one counting statement of its own) is the
    inbox's, for the whole organization and for a member's campaigns alone."""
    seeded = await _seed(client, session)
    admin = await signed_in(app, client, "ops@example.com")
    assert 'aria-label="7 waiting"' in (await admin.get("/app/posts")).text
    autumn = seeded["b"]["campaign"]["id"]
    member = await signed_in(app, client, "ed@example.com", "member", {autumn: "campaign_editor"})
    assert 'aria-label="2 waiting"' in (await member.get("/app/posts")).text


async def test_the_count_follows_the_dashboard_s_changes_at_once_and_others_within_seconds(
    app: Any, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Counted once every few seconds (app.web.waiting): a change made from the dashboard
    shows on the very next page; one made elsewhere (here the engine's hold) once the
    count's few seconds are over."""
    app.state.waiting = WaitingCounts(ttl_seconds=0.3)
    seeded = await _seed(client, session)
    admin = await signed_in(app, client, "ops@example.com")
    assert 'aria-label="7 waiting"' in (await admin.get("/app/posts")).text
    form = {
        "operation": "assign_tier",
        "post_id": seeded["b"]["posts"][0]["id"],
        "cpm_tier_id": seeded["b"]["tier"]["id"],
    }
    await admin.post("/app/posts/act", data=form)
    assert 'aria-label="6 waiting"' in (await admin.get("/app/posts")).text
    await hold(session, seeded["b"]["posts"][2], "author_mismatch", "Posted by someone else.")
    await asyncio.sleep(0.35)
    assert 'aria-label="7 waiting"' in (await admin.get("/app/posts")).text


async def test_what_callers_wrote_is_shown_as_text_never_as_markup(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The rows are written in Python (app/web/inbox_rows.py): every reason, name, handle,
    evidence and import line reaches the page escaped."""
    seeded = await _campaign(client, "<i>Spring</i>", "ana_rows", 40)
    held, flagged, pending, _ = seeded["posts"]
    evidence = {"expected": {"handle": "ana_rows"}, "found": {"handle": "<img src=x>"}}
    await hold(session, held, "author_mismatch", "<b>Posted</b> by someone else.", evidence)
    await flag(session, flagged, "view_spike", "<script>alert(1)</script>")
    await pending_cpm(session, pending, views=1_500)
    await _failed_line(session, seeded["campaign"]["id"])
    text = (await (await signed_in(app, client, "ops@example.com")).get("/app")).text
    for raw in ("<i>Spring</i>", "<b>Posted</b>", "<img src=x>", "<script>alert(1)</script>"):
        assert raw not in text, raw
    for shown in (
        "&lt;i&gt;Spring&lt;/i&gt;",
        "&lt;b&gt;Posted&lt;/b&gt; by someone else.",
        "The platform says @&lt;img src=x&gt; posted it",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
    ):
        assert shown in text, shown


async def test_a_member_sees_only_their_campaigns_items(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    seeded = await _seed(client, session)
    autumn = seeded["b"]["campaign"]["id"]
    member = await signed_in(app, client, "ed@example.com", "member", {autumn: "campaign_editor"})
    text = (await member.get("/app")).text
    assert all(words in text for words in ("Autumn", "Outside campaign window"))
    assert not any(words in text for words in ("Spring", "impostor", "private"))
    assert 'aria-label="2 waiting"' in text
    nobody = await signed_in(app, client, "viewer@example.com", "member")
    text = (await nobody.get("/app")).text
    assert "Nothing waits for you." in text
    assert "selected" not in text


async def test_the_queue_reloads_after_an_action(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    seeded = await _seed(client, session)
    admin = await signed_in(app, client, "ops@example.com")
    pending = seeded["b"]["posts"][0]["id"]
    form = {
        "operation": "assign_tier",
        "post_id": pending,
        "cpm_tier_id": seeded["b"]["tier"]["id"],
    }
    answer = await admin.post("/app/posts/act", data=form)
    assert answer.headers["HX-Trigger"] == "posts-changed"
    items = (await admin.get("/app/inbox/items")).text
    assert pending not in items
    assert seeded["a"]["posts"][2]["id"] in items  # the other pending_cpm post still waits


async def test_a_kind_past_its_cap_says_how_many_more_and_shows_them_when_asked(
    app: object, client: httpx.AsyncClient, session: AsyncSession, monkeypatch: Any
) -> None:
    """Each kind shows its oldest CAP items and how many more wait, with a link that shows
    up to WIDE of that kind (the queue's region through htmx, or the whole page)."""
    seeded = await _seed(client, session)
    monkeypatch.setattr(inbox_page, "CAP", 1)  # two holds wait: one shown, one more
    admin = await signed_in(app, client, "ops@example.com")
    oldest, newer = seeded["a"]["posts"][0]["id"], seeded["b"]["posts"][1]["id"]
    text = (await admin.get("/app")).text
    assert oldest in text
    assert newer not in text
    assert "1 more, older ones first" in text
    assert 'hx-get="/app/inbox/items?show=holds"' in text
    assert 'aria-label="7 waiting"' in text  # the count is every item's, shown or not
    for wider in (
        (await admin.get("/app/inbox/items?show=holds")).text,
        (await admin.get("/app?show=holds")).text,
    ):
        assert oldest in wider
        assert newer in wider
        assert "show=holds" not in wider  # shown wide already
        assert "show=pending_cpm" in wider  # the other kinds keep their cap
