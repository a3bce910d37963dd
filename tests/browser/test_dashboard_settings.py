"""Settings in Chromium (issue 27, item 3): an admin invites a teammate, creates an API key
(shown once, and it works), creates a webhook endpoint (its secret shown once) and sends a
test delivery that reaches a local receiver, verified with that secret; then revokes the
key. Screenshots `settings` and `settings-webhooks`."""

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.webhooks.delivery import Deliverer, build_http_client
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab
from tests.webhook_receiver import Receiver


async def test_an_admin_sets_up_the_team_a_key_and_a_webhook(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis
) -> None:
    async with admin_api(settings, engine, committed) as api:
        await add_user(api, "owner@brand.example", name="Olivia Owner")
    receiver = Receiver()
    receiver.start()
    try:
        with dashboard(settings) as origin:
            async with tab(origin) as t, httpx.AsyncClient(base_url=origin) as http:
                await t.go("/app/settings")
                await t.sign_in("owner@brand.example")
                assert t.page.url.endswith("/app/settings")
                page = t.page

                # A teammate, invited: the link is shown in the answer.
                await page.get_by_label("Email").fill("sam@brand.example")
                await page.get_by_label("Name", exact=True).fill("Sam Support")
                await page.get_by_label("Role", exact=True).select_option("member")
                await page.get_by_role("button", name="Invite").click()
                await page.get_by_text("Invitation link for sam@brand.example").wait_for()
                link = await page.locator("[data-secret]").inner_text()
                assert "token=" in link
                row = page.locator("tbody tr", has_text="sam@brand.example")
                assert "Invited" in await row.inner_text()

                # An API key, shown once; it works.
                await page.get_by_label("Key name").fill("CI export")
                await page.get_by_label("Key role").select_option("viewer")
                await page.get_by_role("button", name="Create key").click()
                await page.get_by_text("API key “CI export” (viewer)").wait_for()
                key = await page.locator("[data-secret]").inner_text()
                me = await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
                assert me.json()["role"] == "viewer"
                await t.shoot("settings")

                # A webhook endpoint: its secret is shown once; a test event reaches the
                # receiver, signed with it.
                await page.get_by_role("link", name="Manage webhook endpoints").click()
                await page.get_by_label("Endpoint URL").fill(receiver.url)
                await page.get_by_label("Description").fill("Finance ledger")
                await page.get_by_role("button", name="Add endpoint").click()
                await page.get_by_text("Signing secret").wait_for()
                secret = await page.locator("[data-secret]").inner_text()
                assert secret.startswith("whsec_")
                receiver.secrets.append(secret)
                await page.get_by_role("button", name="Send test event").click()
                await page.get_by_text("Test event queued").wait_for()
                # The worker's sweep, run here (the server's worker would do the same).
                own = settings.model_copy(update={"webhook_allow_private_urls": True})
                async with build_http_client(own) as sender:
                    await Deliverer(committed, sender, own).sweep()
                await page.get_by_role("link", name="Reload").click()
                await page.locator(".badge.delivery-succeeded").wait_for()
                assert "HTTP 200" in await page.locator("table.deliveries").inner_text()
                (received,) = receiver.received
                assert received.verified_by_any
                assert received.payload["type"] == "webhook.test"
                await t.shoot("settings-webhooks")

                # The key, revoked: it no longer works.
                await page.get_by_role("link", name="Team and access").click()
                await page.get_by_role("button", name="Revoke CI export").click()
                await page.get_by_text("Key revoked: it no longer works.").wait_for()
                me = await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
                assert me.status_code == 401
                assert key not in await page.content()
    finally:
        receiver.stop()


async def test_an_admin_gives_campaign_roles_and_a_key_for_chosen_campaigns(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis
) -> None:
    """Issue 27, item 3: a member given a role on one campaign, the role changed and taken
    away, and an API key restricted to one campaign, all without the API (which then reads
    the same rows). Screenshots `settings-role-form` and `settings-roles`."""
    async with admin_api(settings, engine, committed) as api:
        await add_user(api, "owner@brand.example", name="Olivia Owner")
        sam = await add_user(api, "sam@brand.example", "member", name="Sam Support")
        spring = (await api.post("/v1/campaigns", json={"name": "Spring launch"})).json()
        autumn = (await api.post("/v1/campaigns", json={"name": "Autumn drop"})).json()
        admin_key = (await api.post("/v1/api-keys", json={"role": "admin"})).json()["key"]
    admin = {"Authorization": f"Bearer {admin_key}"}
    with dashboard(settings) as origin:
        async with tab(origin) as t, httpx.AsyncClient(base_url=origin) as http:
            await t.go("/app/settings")
            await t.sign_in("owner@brand.example")
            page = t.page

            await page.get_by_text("Give a campaign role to Sam Support").click()
            await page.get_by_label("Campaign", exact=True).select_option(label="Spring launch")
            await page.get_by_label("Campaign role").select_option("campaign_editor")
            await t.shoot("settings-role-form")
            await page.get_by_role("button", name="Give role to Sam Support").click()
            done = "sam@brand.example is now campaign editor on Spring launch."
            await page.get_by_text(done).wait_for()
            row = page.locator("tbody tr", has_text="sam@brand.example")
            assert "Spring launch: Campaign editor" in await row.inner_text()

            # A key for one campaign: it sees that campaign and no other.
            await page.get_by_label("Key name").fill("Agency reports")
            await page.get_by_label("Key role").select_option("viewer")
            await page.get_by_text("Restrict to some campaigns").click()
            await page.get_by_label("Autumn drop").check()
            await page.get_by_role("button", name="Create key").click()
            await page.get_by_text("API key “Agency reports” (viewer, 1 campaign only)").wait_for()
            key = await page.locator("[data-secret]").inner_text()
            keyed = {"Authorization": f"Bearer {key}"}
            seen = (await http.get("/v1/campaigns", headers=keyed)).json()["data"]
            assert [c["id"] for c in seen] == [autumn["id"]]
            await t.shoot("settings-roles")

            roles = f"/v1/campaigns/{spring['id']}/roles"
            listed = (await http.get(roles, headers=admin)).json()["data"]
            assert [(r["user_id"], r["role"]) for r in listed] == [(sam["id"], "campaign_editor")]
            await page.get_by_role(
                "button", name="Remove the role of Sam Support on Spring launch"
            ).click()
            await page.get_by_text("sam@brand.example no longer holds a role on").wait_for()
            assert (await http.get(roles, headers=admin)).json()["data"] == []
