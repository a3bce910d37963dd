"""Track videos (/app/track): pasted URLs become the API's bulk import, whose lines the page
follows until the import is finished; a person whose role does not allow adding posts is
not offered a campaign and is refused as the API refuses them."""

import uuid

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import PostImport
from app.platforms.shortlinks import resolver_for
from app.services import post_imports
from app.settings import Settings
from tests import factories as f
from tests.web.session_kit import signed_in

HTMX = {"HX-Request": "true"}


def _url(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7_340_000_000_000_000_000 + n}"


async def test_pasted_urls_become_an_import_whose_outcomes_the_page_follows(
    app: object,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    redis: Redis,
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    web = await signed_in(app, client, "ops@example.com")
    form = await web.get("/app/track")
    assert f'<option value="{cid}"' in form.text
    urls = f"{_url(1)}\nnot a link\n\n{_url(1)}\n{_url(2)} {s['instagram']['id']}\n"
    sent = await web.post("/app/track", data={"campaign_id": cid, "urls": urls}, headers=HTMX)
    assert sent.status_code == 204, sent.text
    where = sent.headers["HX-Redirect"]
    import_id = uuid.UUID(where.rsplit("/", 1)[1])
    waiting = await web.get(where)
    assert waiting.text.count("Waiting…") == 4  # the blank line is not a line
    assert 'hx-trigger="every 1s"' in waiting.text
    api = await f.ok(await web.get(f"/v1/post-imports/{import_id}"))
    assert [ln["creator_id"] for ln in api["lines"]] == [None, None, None, s["instagram"]["id"]]

    async with httpx.AsyncClient() as http:  # what the worker does with the job
        await post_imports.process(sessionmaker, resolver_for(http, settings), settings, import_id)
    done = await web.get(f"{where}/progress", headers=HTMX)
    assert "hx-trigger" not in done.text  # finished: the polling stops
    api = await f.ok(await web.get(f"/v1/post-imports/{import_id}"))
    assert [ln["outcome"] for ln in api["lines"]] == [
        "added",
        "invalid_url",
        "already_tracked",
        "platform_mismatch",
    ]
    added = api["lines"][0]["post_id"]
    assert done.text.count(f'href="/app/posts/{added}"') == 2  # added, and already tracked
    for words in ("Added", "Not a video link", "Already tracked", "Platform mismatch"):
        assert words in done.text


async def test_what_cannot_be_queued_shows_the_form_again_with_why(
    app: object, client: httpx.AsyncClient, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    web = await signed_in(app, client, "ops@example.com")
    for urls, why in (
        ("  \n", "Paste at least one URL."),
        (f"{_url(1)}\nhttps://www.tiktok.com/{'x' * 2100}", "Line 2: the URL is not valid"),
    ):
        answer = await web.post("/app/track", data={"campaign_id": cid, "urls": urls}, headers=HTMX)
        assert answer.status_code == 200
        assert why in answer.text
    ended = await f.campaign(client, name="Done", status="ended")
    answer = await web.post(
        "/app/track", data={"campaign_id": ended["id"], "urls": _url(3)}, headers=HTMX
    )
    assert "The campaign has ended" in answer.text
    assert f'value="{ended["id"]}"' not in answer.text  # not offered


async def test_a_member_without_posts_add_is_not_offered_a_campaign_and_is_refused(
    app: object, client: httpx.AsyncClient, session: AsyncSession, redis: Redis
) -> None:
    s = await f.setup_campaign(client)
    cid = s["campaign"]["id"]
    editor = await signed_in(app, client, "ed@example.com", "member", {cid: "campaign_editor"})
    page = await editor.get("/app/track")
    assert page.status_code == 200
    assert cid not in page.text
    assert "None of your campaigns lets you add videos" in page.text
    forged = await editor.post(
        "/app/track", data={"campaign_id": cid, "urls": _url(1)}, headers=HTMX
    )
    assert forged.status_code == 200
    assert "You cannot add videos to that campaign." in forged.text
    api = await editor.post(f"/v1/campaigns/{cid}/posts/bulk", json={"lines": [{"url": _url(1)}]})
    assert api.status_code == 403  # the API refuses the same person the same way
    assert await session.scalar(select(func.count()).select_from(PostImport)) == 0
    admin = await signed_in(app, client, "ca@example.com", "member", {cid: "campaign_admin"})
    assert f'<option value="{cid}"' in (await admin.get("/app/track")).text
