"""Signing in to the dashboard in Chromium: with a second factor, and setting one up when
the organization requires it (issue 26)."""

import pyotp
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from tests.browser.dashboard_kit import (
    SM,
    add_user,
    admin_api,
    dashboard,
    next_code,
    tab,
    turn_on_two_factor,
)
from tests.factories import ok


async def test_a_user_with_two_factor_signs_in_and_out(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: object
) -> None:
    async with admin_api(settings, engine, committed) as api:
        await add_user(api, "ops@brand.example", name="Olivia Ops")
        totp = await turn_on_two_factor(api, "ops@brand.example")
    with dashboard(settings) as origin:
        async with tab(origin) as t:
            await t.go("/app/two-factor")  # not signed in: sent to sign in, and back after
            assert "/app/sign-in?next=" in t.page.url
            await t.shoot("sign-in")
            await t.sign_in("ops@brand.example")  # the password alone is not enough
            await t.page.get_by_role("alert").wait_for()
            assert "authenticator" in await t.page.get_by_role("alert").inner_text()
            await t.sign_in("ops@brand.example", next_code(totp))
            await t.page.get_by_text("Two-factor sign-in is on since").wait_for()
            assert t.page.url.endswith("/app/two-factor")
            await t.page.get_by_text("Olivia Ops").click()  # the user menu
            await t.page.get_by_role("button", name="Sign out").click()
            await t.page.get_by_role("button", name="Sign in").wait_for()
            await t.go("/app/two-factor")
            assert "/app/sign-in" in t.page.url


async def test_a_required_second_factor_is_set_up_before_anything_else(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: object
) -> None:
    async with admin_api(settings, engine, committed) as api:
        await add_user(api, "new@brand.example")
        await ok(await api.patch("/v1/organization", json={"require_two_factor": "everyone"}))
    with dashboard(settings) as origin:
        async with tab(origin) as t:
            await t.sign_in("new@brand.example")
            assert t.page.url.endswith("/app/two-factor")
            await t.page.get_by_role("button", name="Set up two-factor sign-in").click()
            key = t.page.locator("p", has_text="Key:").locator("code")
            await key.wait_for()
            await t.shoot("two-factor-setup")
            totp = pyotp.TOTP(await key.inner_text())
            await t.page.get_by_label("Code from the app").fill(totp.now())
            await t.page.get_by_role("button", name="Turn on").click()
            await t.page.get_by_text("Keep these recovery codes").wait_for()
            assert await t.page.locator(".codes li").count() == 10
