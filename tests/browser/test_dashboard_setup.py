"""Setting up in Chromium (issue 27, item 3): a campaign, a CPM tier, a creator and a member
made without the API, each the API's own record after; the creator's access code shown
once, and a new one issued the same way."""

import re

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.services import access_codes
from app.settings import Settings
from tests import factories as f
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab

CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$")


async def test_a_campaign_tier_creator_and_member_set_up_without_the_api(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis
) -> None:
    async with admin_api(settings, engine, committed) as api:
        await add_user(api, "ops@brand.example", name="Olivia Ops")
        await f.creator(api, "natgeo", "instagram")  # someone already there
        with dashboard(settings) as origin:
            async with tab(origin) as t:
                page = t.page
                await t.go("/app/campaigns")
                await t.sign_in("ops@brand.example")
                await page.get_by_role("link", name="New campaign").click()
                await page.get_by_label("Name").fill("Autumn drop")
                await page.get_by_label("Currency").fill("eur")
                await page.get_by_label("Starts on").fill("2030-09-01")
                await page.get_by_label("Ends on").fill("2030-08-01")  # before the start
                await page.get_by_label("View spike").check()
                await page.get_by_role("button", name="Create the campaign").click()
                # Refused beside its field, the form kept as typed.
                await page.get_by_text("The end is before the start.").wait_for()
                assert await page.get_by_label("Name").input_value() == "Autumn drop"
                await page.get_by_label("Ends on").fill("2030-11-30")
                await page.get_by_role("button", name="Create the campaign").click()
                await page.wait_for_url(re.compile(r".*/app/campaigns/[0-9a-f-]{36}$"))
                campaign_id = page.url.rsplit("/", 1)[1]

                await page.locator("#tier-new-name").fill("Gold")
                await page.locator("#tier-new-cpm").fill("4.50")
                await page.locator("#tier-new-cap").fill("250")
                await page.get_by_role("button", name="Add the tier").click()
                await page.get_by_text("Added the tier Gold.").wait_for()

                await page.get_by_role("navigation").get_by_role("link", name="Creators").click()
                await page.get_by_text("Add a creator").click()
                await page.get_by_label("Handle").fill("@scout2015")
                await page.get_by_role("button", name="Add the creator").click()
                await page.get_by_role("heading", name="Access code").wait_for()
                await page.wait_for_url(re.compile(r".*/app/creators/[0-9a-f-]{36}$"))
                first = await page.locator(".secret .code").inner_text()
                assert CODE.match(first), first
                await t.shoot("creator")
                await page.reload()  # shown once: the page itself never shows it
                await page.get_by_role("heading", name="Rename history").wait_for()
                assert first not in await t.body().inner_text()
                await page.get_by_role("button", name="Issue a new access code").click()
                await page.get_by_role("heading", name="Access code").wait_for()
                second = await page.locator(".secret .code").inner_text()
                assert CODE.match(second)
                assert second != first

                await t.go(f"/app/campaigns/{campaign_id}")
                add = page.locator("form", has=page.get_by_role("heading", name="Add a creator"))
                await add.get_by_label("Creator").select_option(label="@scout2015 (TikTok)")
                await add.get_by_label("Default tier").select_option(label="Gold (4.50)")
                await add.get_by_role("button", name="Add to the campaign").click()
                await page.get_by_text("Added the creator to the campaign.").wait_for()
                await t.shoot("campaign-edit")
                await t.go("/app/campaigns")
                await page.get_by_role("link", name="Autumn drop").wait_for()
                await t.shoot("campaigns")

        campaign = await f.ok(await api.get(f"/v1/campaigns/{campaign_id}"))
        assert (campaign["currency"], campaign["hold_on_flags"]) == ("EUR", ["view_spike"])
        assert (campaign["starts_on"], campaign["ends_on"]) == ("2030-09-01", "2030-11-30")
        tiers = (await f.ok(await api.get(f"/v1/campaigns/{campaign_id}/cpm-tiers")))["data"]
        assert [(x["name"], x["cpm"], x["cap"]) for x in tiers] == [("Gold", "4.5000", "250.00")]
        members = (await f.ok(await api.get(f"/v1/campaigns/{campaign_id}/members")))["data"]
        assert [(m["creator"]["handle"], m["cpm_tier_id"]) for m in members] == [
            ("scout2015", tiers[0]["id"])
        ]
    async with committed() as session:  # the new code opens the portal; the old one not
        holder = await access_codes.creator_for(session, second)
        assert holder is not None
        assert holder.handle == "scout2015"
        assert await access_codes.creator_for(session, first) is None
