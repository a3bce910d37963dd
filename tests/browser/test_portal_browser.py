"""The portal in a real browser (issue 14): headless Chromium (Debian's, installed by
tests/system_packages.sh when missing), driven by Playwright, against the API served by
uvicorn on a real port. Signs in with a code, sees the videos and totals, signs out, and
leaves a screenshot in tests/artifacts/portal.png."""

import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from playwright.async_api import async_playwright
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import PostStatus
from app.main import create_app
from app.models import Post
from app.repositories import api_keys
from app.settings import PROJECT_ROOT, Settings
from tests import factories as f
from tests.processes import api_server

SM = async_sessionmaker[AsyncSession]
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"


def _chromium() -> str:
    subprocess.run(["bash", str(PROJECT_ROOT / "tests" / "system_packages.sh")], check=True)
    path = shutil.which("chromium")
    assert path is not None
    return path


@pytest.fixture
async def code(settings: Settings, engine: AsyncEngine, committed: SM) -> str:
    """A creator with a video in each state, committed (the server reads them from its own
    connections); the creator's access code."""
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        async with committed() as session:
            _, key = await api_keys.create_organization(session, "Browser brand")
            await session.commit()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as admin:
            c = await f.campaign(admin, name="Winter launch")
            t = await f.tier(admin, c["id"], cpm="6.2500", name="Hidden tier")
            creator = await f.creator(admin, "lena.moves")
            await f.member(admin, c["id"], creator["id"], t["id"])
            video = "https://www.tiktok.com/@lena.moves/video/{}"
            ids = [
                (await f.post(admin, c["id"], url=video.format(7_500_000_000_000_000_000 + n)))[
                    "id"
                ]
                for n in range(4)
            ]
    when = datetime(2026, 11, 21, 10, tzinfo=UTC)
    states = [
        {"views": 812, "published_at": when},
        {"status": PostStatus.FINALIZED, "views": 4_210, "locked_views": 4_000,
         "earnings": Decimal("25.00"), "finalized_at": when, "published_at": when},
        {"status": PostStatus.PAID, "views": 12_000, "locked_views": 12_000,
         "earnings": Decimal("75.00"), "finalized_at": when, "paid_at": when,
         "published_at": when},
        {"status": PostStatus.REJECTED, "views": 300, "published_at": when,
         "rejection_reason": "300 views, below the 1,000 minimum."},
    ]  # fmt: skip
    async with committed() as session:
        for post_id, values in zip(ids, states, strict=True):
            await session.execute(
                update(Post).where(Post.id == uuid.UUID(post_id)).values(**values)
            )
        await session.commit()
    return str(creator["access_code"])


async def test_a_creator_signs_in_sees_videos_and_totals_and_signs_out_in_chromium(
    settings: Settings, code: str, redis: object
) -> None:
    chromium = _chromium()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PROVIDER_MODE": "sandbox",
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with api_server(env, start_timeout=90) as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                # A phone-sized window: the page must read well there.
                page = await browser.new_page(viewport={"width": 400, "height": 860})
                await page.goto(f"{url}/portal")
                await page.fill("input[name=access_code]", code.lower())
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=@lena.moves")
                body = await page.inner_text("body")
                for shown in ("Winter launch", "Active", "Finalized", "Paid", "Rejected",
                              "300 views, below the 1,000 minimum.", "4,000 (locked)",
                              "100.00", "75.00", "25.00"):  # fmt: skip
                    assert shown in body, shown
                for hidden in ("Hidden tier", "6.25", "cpm"):
                    assert hidden not in body
                cookies = await page.context.cookies()
                (session_cookie,) = [c for c in cookies if c["name"] == "viewledger_portal"]
                assert session_cookie["httpOnly"]
                assert session_cookie["sameSite"] == "Lax"
                await page.screenshot(path=str(ARTIFACTS / "portal.png"), full_page=True)

                await page.click("text=Log out")
                await page.wait_for_selector("input[name=access_code]")
                assert not [c for c in await page.context.cookies() if c["value"]]
            finally:
                await browser.close()
