"""Watched accounts on a creator's page in Chromium (issue 29): start watching the account
in a campaign, with an initial import and a hashtag filter, then pause it."""

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from tests import factories as f
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab


async def test_an_editor_watches_a_creator_s_account_and_pauses_it(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis
) -> None:
    async with admin_api(settings, engine, committed) as api:
        s = await f.setup_campaign(api)
        await f.campaign(api, name="Winter drop")
        await add_user(api, "ops@brand.example", name="Olivia Ops")
    creator = s["tiktok"]["id"]
    with dashboard(settings) as origin:
        async with tab(origin) as t:
            await t.go(f"/app/creators/{creator}")
            await t.sign_in("ops@brand.example")
            await t.page.get_by_label("Campaign").select_option(label="Summer launch")
            await t.page.get_by_label("Add now its most recent videos").select_option("10")
            await t.page.get_by_label("Only with hashtags (optional)").fill("#ad #sponsored")
            await t.page.get_by_role("button", name="Watch the account").click()
            watching = t.page.locator("#watches-h + p + .table-wrap")
            await watching.get_by_text("Watching", exact=True).wait_for()
            assert await watching.get_by_text("only #ad #sponsored").count() == 1
            await t.shoot("creator-watches")
            await t.page.get_by_role("button", name="Pause watching in Summer launch").click()
            await watching.get_by_text("Paused", exact=True).wait_for()
            await watching.locator("details summary").first.click()
            await t.page.get_by_label("Never with hashtags").first.wait_for()
            await t.shoot("creator-watches-paused")
