"""Two-factor sign-in (issue 25, step 4): TOTP with a QR code, recovery codes, the
organization's requirement, an admin's reset."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.services.users import COOKIE
from app.settings import Settings
from tests.api.test_users import PASSWORD, activate, another_api_process, browser, sign_in
from tests.factories import ok

__all__ = ["browser"]


@pytest.fixture(autouse=True)
async def _fresh_redis(redis: Redis) -> None:
    pass


def _code(secret: str, at: datetime | None = None) -> str:
    return pyotp.TOTP(secret).at(at or datetime.now(UTC))


async def _enrol(web: httpx.AsyncClient, csrf: str) -> tuple[str, list[str]]:
    headers = {"X-CSRF-Token": csrf}
    started = await ok(await web.post("/v1/session/two-factor", headers=headers))
    assert started["qr_svg"].lstrip().startswith("<svg")
    assert started["otpauth_uri"].startswith("otpauth://totp/ViewLedger:")
    wrong = await web.post(
        "/v1/session/two-factor/confirm", json={"code": "000000"}, headers=headers
    )
    if wrong.status_code != 422:  # 000000 may be the right code once in a million
        assert wrong.status_code == 200
    done = await ok(
        await web.post(
            "/v1/session/two-factor/confirm",
            json={"code": _code(started["secret"])},
            headers=headers,
        )
    )
    assert len(done["recovery_codes"]) == 10
    return started["secret"], done["recovery_codes"]


async def test_sign_in_with_password_and_totp_code(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await activate(client, "tess@example.com")
    async with browser() as web:
        signed = await sign_in(web, "tess@example.com")
        secret, recovery = await _enrol(web, signed["csrf_token"])
    async with browser() as web:
        needed = await sign_in(web, "tess@example.com", status=401)
        assert needed["code"] == "two_factor_required"
        wrong = await web.post(
            "/v1/session",
            json={"email": "tess@example.com", "password": PASSWORD, "code": "123456"},
        )
        assert wrong.status_code == 401
        # The enrolment used the current step's code; the next step's is accepted (one
        # step of drift), once.
        later = _code(secret, datetime.now(UTC) + timedelta(seconds=30))
        body = {"email": "tess@example.com", "password": PASSWORD, "code": later}
        await ok(await web.post("/v1/session", json=body))
        replay = await web.post("/v1/session", json=body)
        assert replay.status_code == 401
        # A recovery code stands in for the authenticator, once.
        body = {"email": "tess@example.com", "password": PASSWORD, "code": recovery[0]}
        await ok(await web.post("/v1/session", json=body))
        assert (await web.post("/v1/session", json=body)).status_code == 401


async def test_required_two_factor_limits_a_session_to_setting_it_up(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await activate(client, "uma@example.com")
    org = await ok(await client.patch("/v1/organization", json={"require_two_factor": "admins"}))
    assert org["require_two_factor"] == "admins"
    async with browser() as web:
        signed = await sign_in(web, "uma@example.com")
        assert signed["two_factor_pending"] is True
        blocked = await web.get("/v1/campaigns")
        assert blocked.status_code == 403
        assert blocked.json()["code"] == "two_factor_setup_required"
        await _enrol(web, signed["csrf_token"])
        await ok(await web.get("/v1/campaigns"))  # the same session, now complete
    # A member is not concerned by `admins`.
    await activate(client, "vic@example.com", role="member")
    async with browser() as web:
        assert (await sign_in(web, "vic@example.com"))["two_factor_pending"] is False


async def test_a_second_factor_set_up_through_one_api_process_counts_in_the_others(
    client: httpx.AsyncClient,
    browser: Callable[..., httpx.AsyncClient],
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Processes keep the sessions they read a few seconds (app.state.sessions), but not one
    waiting for its second factor: the browser's next request, wherever it lands, must not
    be sent back to set up what it just set up."""
    await activate(client, "ugo@example.com")
    await ok(await client.patch("/v1/organization", json={"require_two_factor": "admins"}))
    async with another_api_process(settings, engine, sessionmaker) as b, browser() as a:
        signed = await sign_in(a, "ugo@example.com")
        b.cookies.set(COOKIE, a.cookies.get(COOKIE) or "")
        blocked = await b.get("/v1/campaigns")
        assert blocked.json()["code"] == "two_factor_setup_required"
        await _enrol(a, signed["csrf_token"])
        await ok(await b.get("/v1/campaigns"))


async def test_an_admin_resets_a_second_factor(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    user = await activate(client, "wes@example.com")
    async with browser() as web:
        signed = await sign_in(web, "wes@example.com")
        await _enrol(web, signed["csrf_token"])
        await ok(await client.delete(f"/v1/users/{user['id']}/two-factor"), 204)
        # A lost phone may be a stolen one: the sessions signed in with it end too.
        assert (await web.get("/v1/session")).status_code == 401
    async with browser() as web:
        await sign_in(web, "wes@example.com")  # the password alone again
    audit = await ok(await client.get("/v1/audit-events", params={"resource_id": user["id"]}))
    actions = [e["action"] for e in audit["data"]]
    assert "user.two_factor_reset" in actions
    assert "user.two_factor_enabled" in actions


async def test_the_organization_setting_is_for_admins(
    client: httpx.AsyncClient, make_key: Any, org: Any, client_for: Any
) -> None:
    from app.domain.enums import Role

    editor = await make_key(org, Role.EDITOR)
    async with client_for(editor) as c:
        refused = await c.patch("/v1/organization", json={"require_two_factor": "everyone"})
        assert refused.status_code == 403
    assert (await ok(await client.get("/v1/organization")))["require_two_factor"] == "off"
