"""What the dashboard's browser tests share: a team seeded through the API (an admin key,
users with passwords, optionally two-factor), the service under uvicorn on a real port, and
a Chromium page that fails the test on any console error, uncaught exception or request that
leaves the service's origin, and saves desktop and phone screenshots to
tests/artifacts/dashboard/ (kept by CI with the other artifacts)."""

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
from playwright.async_api import ConsoleMessage, Page, Request, ViewportSize, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.repositories import api_keys
from app.settings import PROJECT_ROOT, Settings
from tests.conftest import served_app
from tests.factories import ok
from tests.processes import api_server

SM = async_sessionmaker[AsyncSession]
SHOTS = PROJECT_ROOT / "tests" / "artifacts" / "dashboard"
PASSWORD = "a long and unusual phrase 42"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)


def chromium() -> str:
    """Debian's Chromium, installed by the project's own script when missing."""
    subprocess.run(
        ["bash", str(PROJECT_ROOT / "tests" / "system_packages.sh"), "chromium"], check=True
    )
    path = shutil.which("chromium")
    assert path is not None
    return path


@asynccontextmanager
async def admin_api(
    settings: Settings, engine: AsyncEngine, committed: SM, name: str = "Browser brand"
) -> AsyncIterator[httpx.AsyncClient]:
    """A new organization's admin key, as a client on an app whose writes commit (the server
    under test reads them from its own connections)."""
    async with served_app(settings, engine) as app:
        async with committed() as session:
            _, key = await api_keys.create_organization(session, name)
            await session.commit()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            yield client


async def add_user(
    api: httpx.AsyncClient, email: str, role: str = "admin", name: str = ""
) -> dict[str, Any]:
    """An invited user who has set their password (PASSWORD)."""
    user = await ok(
        await api.post("/v1/users", json={"email": email, "role": role, "name": name}), 201
    )
    token = parse_qs(urlsplit(user["invitation"]["url"]).query)["token"][0]
    body = {"token": token, "password": PASSWORD}
    await ok(await api.post("/v1/password", json=body, headers={"Authorization": ""}), 204)
    return user


async def turn_on_two_factor(api: httpx.AsyncClient, email: str) -> pyotp.TOTP:
    """Two-factor sign-in on for the user, set up through the API as they would; the TOTP
    their authenticator app would hold."""
    anonymous = {"Authorization": ""}
    signed = await ok(
        await api.post(
            "/v1/session", json={"email": email, "password": PASSWORD}, headers=anonymous
        )
    )
    csrf = {**anonymous, "X-CSRF-Token": signed["csrf_token"]}
    enrolment = await ok(await api.post("/v1/session/two-factor", headers=csrf))
    totp = pyotp.TOTP(enrolment["secret"])
    body = {"code": totp.now()}
    await ok(await api.post("/v1/session/two-factor/confirm", json=body, headers=csrf))
    await ok(await api.delete("/v1/session", headers=csrf), 204)
    api.cookies.clear()
    return totp


def next_code(totp: pyotp.TOTP) -> str:
    """A code for the next time step: the one confirming set-up is spent, and the service
    accepts one step either side of now."""
    return totp.at(datetime.now(UTC) + timedelta(seconds=30))


@contextmanager
def dashboard(settings: Settings) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "PROVIDER_MODE": "sandbox",
    }
    with api_server(env, start_timeout=90) as url:
        yield url


@dataclass
class Tab:
    """A browser page on the dashboard, watched for what must never happen."""

    page: Page
    origin: str
    problems: list[str] = field(default_factory=list)

    async def go(self, path: str) -> None:
        await self.page.goto(self.origin + path)

    async def sign_in(self, email: str, code: str = "") -> None:
        """Fills the sign-in form (the one on screen, which keeps where to go next)."""
        if "/app/sign-in" not in self.page.url:
            await self.go("/app/sign-in")
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(PASSWORD)
        if code:
            await self.page.get_by_label("Two-factor code").fill(code)
        async with self.page.expect_navigation():
            await self.page.get_by_role("button", name="Sign in").click()

    async def shoot(self, name: str) -> None:
        """Desktop and phone screenshots of the page as it is now."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            await self.page.set_viewport_size(viewport)
            # Readable at this width: nothing makes the page itself scroll sideways (a wide
            # table scrolls inside its own box).
            wide = await self.page.evaluate("document.documentElement.scrollWidth")
            if wide > viewport["width"]:
                self.problems.append(f"{name} is {wide} px wide at {size} width")
            await self.page.screenshot(path=str(SHOTS / f"{name}-{size}.png"), full_page=True)
        await self.page.set_viewport_size(DESKTOP)

    def body(self) -> Any:
        return self.page.locator("body")


@asynccontextmanager
async def tab(origin: str) -> AsyncIterator[Tab]:
    """A fresh browser (no cookies) on the dashboard; on leaving, the test fails if the page
    logged an error, threw, or asked anything of another origin."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport=DESKTOP)
            watched = Tab(page, origin)

            def console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    watched.problems.append(f"console: {message.text}")

            def request(sent: Request) -> None:
                if not sent.url.startswith((origin + "/", "data:", "about:")):
                    watched.problems.append(f"left the origin: {sent.url}")

            page.on("console", console)
            page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
            page.on("request", request)
            yield watched
            assert not watched.problems, "\n".join(watched.problems)
        finally:
            await browser.close()
