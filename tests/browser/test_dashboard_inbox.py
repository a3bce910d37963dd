"""Needs attention in Chromium: an admin signed in with two-factor clears a hold with a
reason, resolves a flag, assigns a tier inline and acts on two items at once; a member
with a role in one campaign sees that campaign's items only (issue 26)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from tests import factories as f
from tests.browser.dashboard_kit import (
    SM,
    Tab,
    add_user,
    admin_api,
    dashboard,
    next_code,
    tab,
    turn_on_two_factor,
)
from tests.web.session_kit import flag, hold, pending_cpm


def _url(handle: str, n: int) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{7_340_000_000_000_000_000 + n}"


async def _campaign(
    api: httpx.AsyncClient, name: str, handle: str, first: int, count: int
) -> dict[str, Any]:
    c = await f.campaign(api, name=name)
    t = await f.tier(api, c["id"], cpm="4.50", name="Standard")
    await f.tier(api, c["id"], cpm="8.00", cap="500.00", name="Premium")
    creator = await f.creator(api, handle)
    await f.member(api, c["id"], creator["id"])
    posts = [await f.post(api, c["id"], url=_url(handle, first + n)) for n in range(count)]
    return {"campaign": c, "tier": t, "posts": posts}


@asynccontextmanager
async def _done(t: Tab, count: int) -> AsyncIterator[None]:
    """Around an action: its outcomes arrive (all `count` done) and the queue reloads."""
    async with t.page.expect_response(lambda r: r.url.endswith("/app/inbox/items")):
        yield
    await t.page.locator("#outcomes").get_by_text(f"{count} of {count} done.").wait_for()


async def test_an_admin_clears_the_days_queue_and_a_member_sees_their_campaign(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: object
) -> None:
    async with admin_api(settings, engine, committed) as api:
        spring = await _campaign(api, "Spring launch", "ana_creates", 0, 5)
        autumn = await _campaign(api, "Autumn drop", "bo_films", 10, 1)
        await add_user(api, "ops@brand.example", name="Olivia Ops")
        totp = await turn_on_two_factor(api, "ops@brand.example")
        member = await add_user(api, "ed@brand.example", role="member", name="Ed Member")
        path = f"/v1/campaigns/{autumn['campaign']['id']}/roles/{member['id']}"
        await f.ok(await api.put(path, json={"role": "campaign_editor"}))
        held, flagged, pending, *two = spring["posts"]
        async with committed() as session:
            found = {"expected": {"handle": "ana_creates"}, "found": {"handle": "copycat_99"}}
            await hold(session, held, "author_mismatch", "Posted by another account.", found)
            await f.ok(
                await api.patch(
                    f"/v1/posts/{held['id']}", json={"cpm_tier_id": spring["tier"]["id"]}
                )
            )
            spike = {"factor": "10", "snapshots": [{"views": 1_200}, {"views": 48_000}]}
            await flag(session, flagged, "view_spike", "Views grew 40x in 6 hours.", spike)
            for post in (pending, *two):
                await pending_cpm(session, post, views=12_400)
            await hold(
                session,
                autumn["posts"][0],
                "outside_campaign_window",
                "Published before the start.",
            )
        with dashboard(settings) as origin:
            async with tab(origin) as t:
                await t.go("/app")
                await t.sign_in("ops@brand.example", next_code(totp))
                page = t.page
                await page.get_by_role("heading", name="Needs attention").wait_for()
                await page.get_by_text("The platform says @copycat_99 posted it").wait_for()
                await t.shoot("inbox")

                # Clear a hold, with a reason: the post is decided on its locked views.
                await page.get_by_label("Reason for clearing").first.fill(
                    "Agency account, confirmed."
                )
                async with _done(t, 1):
                    await page.get_by_role("button", name="Clear: @ana_creates's post").click()
                cleared = await f.ok(await api.get(f"/v1/posts/{held['id']}"))
                assert cleared["status"] == "finalized"

                # Resolve a flag, with a note.
                await page.get_by_label("Note").fill("Went viral on a duet; real views.")
                async with _done(t, 1):
                    await page.get_by_role("button", name="Resolve: @ana_creates's post").click()
                assert (await f.ok(await api.get(f"/v1/posts/{flagged['id']}/flags")))["data"][0][
                    "resolved_at"
                ]

                # Assign a tier to one pending_cpm post from its row.
                await page.get_by_label("Tier").select_option(
                    label="Premium · 8.00 USD CPM, cap 500.00"
                )
                rows = page.locator("tr", has=page.locator(f"input[value='{pending['id']}']"))
                async with _done(t, 1):
                    await rows.get_by_role("button", name="Assign").click()
                premium = await f.ok(await api.get(f"/v1/posts/{pending['id']}"))
                assert (premium["status"], premium["earnings"]) == ("finalized", "99.20")

                # Two at once: select both remaining pending_cpm posts, one tier for both.
                for post in two:
                    await page.locator(f"input[name=post_id][value='{post['id']}']").check()
                await page.get_by_label("Tier").select_option(label="Standard · 4.50 USD CPM")
                async with _done(t, 2):
                    await page.get_by_role("button", name="Assign to selected").click()
                for post in two:
                    assert (await f.ok(await api.get(f"/v1/posts/{post['id']}")))[
                        "earnings"
                    ] == "55.80"
                await page.get_by_text("Outside campaign window").wait_for()
                assert await page.get_by_text("Spring launch").count() == 0  # all of it done
                await t.shoot("inbox-after")

            async with tab(origin) as t:
                await t.go("/app")
                await t.sign_in("ed@brand.example")
                await t.page.get_by_text("Outside campaign window").wait_for()
                assert await t.page.get_by_text("Autumn drop").count() > 0
                assert await t.page.get_by_text("copycat_99").count() == 0
                assert await t.page.get_by_text("Spring launch").count() == 0
                await t.shoot("inbox-member")
