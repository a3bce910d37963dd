"""The Posts table in Chromium (issue 26): filter, sort and page through the API's list,
bulk-assign a tier to several pending posts, reject one with a reason, see each row's outcome,
and download the filter's CSV."""

import csv
import io
import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.models import Post
from app.settings import Settings
from tests import factories as f
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab
from tests.web.session_kit import hold, pending_cpm

POSTS = 53  # more than a page (50)


def _video(n: int) -> str:
    return f"https://www.tiktok.com/@scout2015/video/{7_340_000_000_000_000_000 + n}"


async def _seed(api: Any, committed: SM) -> dict[str, Any]:
    """A campaign without a default tier: POSTS TikTok posts with views, three of them
    waiting for a tier (pending_cpm), one held; and an Instagram post."""
    s = await f.setup_campaign(api, with_default_tier=False)
    cid = s["campaign"]["id"]
    made = [await f.post(api, cid, url=_video(n)) for n in range(POSTS)]
    async with committed() as session:
        for n, p in enumerate(made):
            await session.execute(
                update(Post).where(Post.id == uuid.UUID(p["id"])).values(views=(n * 7919) % 9000)
            )
        await session.commit()
        for p in made[:3]:
            await pending_cpm(session, p, views=2_000)
        await hold(session, made[3])
    return {**s, "made": made}


async def test_filter_sort_page_act_on_rows_and_download_the_csv(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: object
) -> None:
    async with admin_api(settings, engine, committed) as api:
        w = await _seed(api, committed)
        await add_user(api, "ops@brand.example", name="Olivia Ops")
        pending = {p["id"] for p in w["made"][:3]}
        with dashboard(settings) as origin:
            await _use_the_table(origin, api, w, pending)


async def _use_the_table(origin: str, api: Any, w: dict[str, Any], pending: set[str]) -> None:
    async with tab(origin) as t:
        await t.go("/app/posts")
        await t.sign_in("ops@brand.example")
        page = t.page
        rows = page.locator("table.posts tbody tr")
        assert await rows.count() == 50
        # Paging: the next page has the rest (keyset cursor in the address).
        await page.get_by_role("link", name="Next page").click()
        await page.get_by_role("link", name="First page").wait_for()
        assert await rows.count() == POSTS - 50
        assert "cursor=" in page.url
        # Sorting: by views, most first, by clicking the header.
        await page.get_by_role("link", name="First page").click()
        # The first page is in (it has no "First page" link) before its header is clicked:
        # a click on the outgoing page's header is dropped with the element it came from.
        await page.get_by_role("link", name="First page").wait_for(state="detached")
        await page.get_by_role("link", name="Views").click()
        await page.locator('th[aria-sort="descending"]').wait_for()
        first = await rows.nth(0).locator("td.num").nth(0).inner_text()
        second = await rows.nth(1).locator("td.num").nth(0).inner_text()
        assert int(first.replace(",", "")) >= int(second.replace(",", ""))
        # Filtering: the campaign's posts waiting for a tier (the address keeps it).
        await page.locator("select[name=campaign_id]").select_option(w["campaign"]["id"])
        await page.locator("select[name=status]").select_option("pending_cpm")
        await page.get_by_role("button", name="Apply filters").click()
        await page.wait_for_url("**status=pending_cpm**")
        await page.get_by_text("3 posts on this page").wait_for()
        await t.shoot("posts")
        # Bulk: every row of the filter gets the tier; each row's outcome is shown.
        await page.get_by_label("Select every post on this page").check()
        await page.locator("select[name=cpm_tier_id]").select_option(w["tier"]["id"])
        await page.get_by_role("button", name="Assign tier").click()
        outcomes = page.locator("#outcomes")
        await outcomes.get_by_text("3 of 3 done.").wait_for()
        # The list reloads: finalized posts no longer match "pending CPM".
        await page.get_by_text("No posts match these filters.").wait_for()
        for post_id in pending:
            post = await f.ok(await api.get(f"/v1/posts/{post_id}"))
            assert (post["status"], post["earnings"]) == ("finalized", "9.00")
        # Reject one post, found by searching for its id, with a reason.
        target = w["made"][5]
        await page.goto(f"{origin}/app/posts?q={target['platform_post_id']}")
        await page.get_by_text("1 post on this page").wait_for()
        await page.get_by_label("Select @scout2015's post").check()
        await page.locator("input[name=reason]").fill("Reposted from another account.")
        await page.get_by_role("button", name="Reject").click()
        await outcomes.get_by_text("1 of 1 done.").wait_for()
        row = rows.nth(0)
        await row.get_by_text("Reposted from another account.").wait_for()
        assert "Rejected" in await row.inner_text()
        # Rejecting without a reason is refused with what to fix; nothing changes.
        await page.get_by_label("Select @scout2015's post").check()
        await page.get_by_role("button", name="Reject").click()
        await outcomes.get_by_text("Give a reason.").wait_for()
        await t.shoot("posts-rejected")
        # The CSV of a filter: the finalized posts, as the list shows them.
        await page.goto(f"{origin}/app/posts?status=finalized&sort=-views")
        async with page.expect_download() as download:
            await page.get_by_role("link", name="Download CSV").click()
        saved = await (await download.value).path()
        lines = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert {r["post_id"] for r in lines} == pending
        assert {(r["status"], r["earnings"], r["currency"]) for r in lines} == {
            ("finalized", "9.00", "USD")
        }
