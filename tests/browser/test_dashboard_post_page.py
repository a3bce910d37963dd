"""A post's page in Chromium (issue 26): a post the engine fetched three times and decided,
with an open flag. The chart's SVG has a point per fetch and the table beside it the same
numbers; the decision's evidence links its raw answer; resolving the flag from the page
reloads what changed."""

from collections.abc import Callable
from datetime import timedelta

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.enums import Platform, Role
from app.main import create_app
from app.platforms.sandbox import Sandbox
from app.repositories import api_keys
from app.settings import Settings
from app.workers.refresher import Refresher
from tests.browser.dashboard_kit import SM, add_user, dashboard, tab
from tests.engine_kit import Clock, find_video, seed
from tests.web.session_kit import flag


async def test_a_posts_page_charts_its_fetches_and_shows_its_evidence(
    settings: Settings,
    engine: AsyncEngine,
    committed: SM,
    redis: Redis,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    clock.advance(hours=-50)  # three daily fetches, the last one now
    video = find_video(
        Platform.TIKTOK,
        sandbox.anchor,
        lambda v: (
            timedelta(days=9) < clock.now - v.created_at < timedelta(days=20)
            and v.counts_at(clock.now).views >= 5_000
        ),
    )
    s = await seed(committed, [(Platform.TIKTOK, video)], clock.now)
    views = []
    for step in range(3):
        if step:
            clock.advance(hours=25)
        await make_refresher().refresh_due(Platform.TIKTOK)  # the first one decides it
        views.append(sandbox.video(Platform.TIKTOK, video).counts_at(clock.now).views)
    post_id = s.posts[video]
    async with committed() as session:
        await flag(session, {"id": str(post_id)}, reason="Views jumped 10x in a day.")
        _, key = await api_keys.create(session, s.organization_id, Role.ADMIN)
        await session.commit()
    app = create_app(settings, engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as api,
    ):
        await add_user(api, "ops@brand.example", name="Olivia Ops")
    with dashboard(settings) as origin:
        async with tab(origin) as t:
            await t.go(f"/app/posts/{post_id}")
            await t.sign_in("ops@brand.example")  # and back to the post
            assert t.page.url.endswith(f"/app/posts/{post_id}")
            views_chart = t.page.locator('svg.chart[aria-label="Views"]')
            assert await views_chart.locator("circle.chart-point").count() == 3
            table = t.page.get_by_role("region", name="Stats over time, as numbers")
            cells = table.locator("tbody tr td:nth-child(2)")
            assert await cells.all_inner_texts() == [f"{v:,}" for v in views]
            evidence = t.page.locator("section", has=t.page.get_by_role("heading", name="Evidence"))
            assert "Decided Finalized" in await evidence.inner_text()
            assert "× 4.5000 / 1000" in await evidence.inner_text()  # noqa: RUF001
            raw = evidence.get_by_role("link", name="raw answer").first
            answer = await t.page.request.get(origin + str(await raw.get_attribute("href")))
            assert answer.status == 200  # the session cookie reads the API's raw answer
            await t.shoot("post-page")
            await t.page.get_by_label("Note").fill("A creator's video went viral; checked.")
            await t.page.get_by_role("button", name="Resolve flag").click()
            await t.page.get_by_text("1 of 1 done.").wait_for()
            await t.page.get_by_text("Note: A creator's video went viral; checked.").wait_for()
