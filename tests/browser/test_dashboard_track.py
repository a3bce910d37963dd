"""Track videos in Chromium (issue 26): paste ten URLs (good ones, a duplicate, links that
are not videos, a creator not in the campaign, an Instagram reel with and without its
creator) and watch each line's outcome arrive as the worker handles the import."""

import uuid

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.platforms.shortlinks import resolver_for
from app.services import post_imports
from app.settings import Settings
from tests import factories as f
from tests.browser.dashboard_kit import SM, add_user, admin_api, dashboard, tab


def _tiktok(handle: str, n: int) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{7_350_000_000_000_000_000 + n}"


async def test_ten_pasted_urls_each_get_their_outcome(
    settings: Settings, engine: AsyncEngine, committed: SM, redis: Redis
) -> None:
    async with admin_api(settings, engine, committed) as api:
        s = await f.setup_campaign(api)
        await add_user(api, "ops@brand.example", name="Olivia Ops")
    insta = s["instagram"]["id"]
    lines = [
        _tiktok("scout2015", 1),
        _tiktok("scout2015", 2),
        _tiktok("scout2015", 3),
        _tiktok("scout2015", 1),  # the same video again
        "not a link",
        "https://example.com/watch/4",
        _tiktok("stranger", 5),  # not a member of the campaign
        f"https://www.instagram.com/reel/Cx000000011/ {insta}",
        "https://www.instagram.com/reel/Cx000000012/",  # whose? an Instagram link does not say
        _tiktok("scout2015", 6),
    ]
    expected = [
        "Added",
        "Added",
        "Added",
        "Already tracked",
        "Not a video link",
        "Not a video link",
        "Creator not in the campaign",
        "Added",
        "Creator required",
        "Added",
    ]
    with dashboard(settings) as origin:
        async with tab(origin) as t:
            await t.go("/app/track")
            await t.sign_in("ops@brand.example")
            assert t.page.url.endswith("/app/track")
            await t.page.get_by_label("Campaign").select_option(label="Summer launch")
            await t.page.get_by_label("Video links, one a line").fill("\n".join(lines))
            await t.page.get_by_role("button", name="Track these videos").click()
            await t.page.wait_for_url("**/app/track/*")
            await t.page.get_by_text("Queued: 10 lines wait for the worker").wait_for()
            # The worker's job, run here (the server's worker would do the same).
            import_id = uuid.UUID(t.page.url.rsplit("/", 1)[1])
            async with httpx.AsyncClient() as http:
                resolver = resolver_for(http, settings)
                await post_imports.process(committed, resolver, settings, import_id)
            await t.page.get_by_text("Done: 10 of 10 handled").wait_for()  # polled, not reloaded
            rows = t.page.locator(".track-progress tbody tr")
            assert await rows.count() == 10
            for n, words in enumerate(expected):
                assert words in await rows.nth(n).inner_text(), (n, words)
            await t.shoot("track")
            # An added line opens its post's page; the duplicate links to the same post.
            await rows.nth(3).get_by_role("link", name="Open the tracked post").click()
            await t.page.get_by_role("heading", name="Stats over time").wait_for()
            assert "@scout2015" in await t.page.get_by_role("heading", level=1).inner_text()
