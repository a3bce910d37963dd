"""Email (issue 25, step 5): invitations and password resets through SMTP, followed end to
end through the sandbox's SMTP sink."""

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.main import create_app
from app.platforms.sandbox import create_app as create_sandbox
from app.platforms.sandbox.mail import MailSink
from app.settings import Settings
from tests.api.test_users import PASSWORD, sign_in
from tests.factories import ok


@pytest.fixture(autouse=True)
async def _fresh_redis(redis: Redis) -> None:
    pass


@pytest.fixture
async def sandbox() -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox provider with its SMTP sink listening on a free port."""
    app = create_sandbox(mail=MailSink(), smtp=("127.0.0.1", 0))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as c,
    ):
        yield c


@pytest.fixture
async def mailing(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    sandbox: httpx.AsyncClient,
    org: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of an app whose SMTP_URL is the sandbox's sink."""
    sink: MailSink = sandbox._transport.app.state.mail  # type: ignore[attr-defined]
    assert sink._server is not None
    port = sink._server.sockets[0].getsockname()[1]
    configured = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    app = create_app(configured, engine=engine, sessionmaker=sessionmaker)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {org.key}"},
        ) as client,
    ):
        yield client


def _token(body: str) -> str:
    match = re.search(r"token=([A-Za-z0-9_-]+)", body)
    assert match is not None, body
    return match.group(1)


async def test_an_invitation_arrives_by_email_and_sets_the_password(
    mailing: httpx.AsyncClient, sandbox: httpx.AsyncClient
) -> None:
    made = await ok(
        await mailing.post("/v1/users", json={"email": "Zed@Example.com", "role": "admin"}), 201
    )
    inbox = await ok(await sandbox.get("/__sandbox/mail", params={"to": "zed@example.com"}))
    [message] = inbox["messages"]
    assert message["to"] == ["zed@example.com"]
    assert "invited" in message["subject"]
    assert _token(message["body"]) == _token(made["invitation"]["url"])
    body = {"token": _token(message["body"]), "password": PASSWORD}
    await ok(await mailing.post("/v1/password", json=body, headers={"Authorization": ""}), 204)
    async with httpx.AsyncClient(transport=mailing._transport, base_url="http://test") as web:
        await sign_in(web, "zed@example.com")


async def test_a_user_asks_for_a_reset_by_email_and_strangers_learn_nothing(
    mailing: httpx.AsyncClient, sandbox: httpx.AsyncClient
) -> None:
    made = await ok(
        await mailing.post("/v1/users", json={"email": "yan@example.com", "role": "member"}), 201
    )
    anonymous = {"Authorization": ""}
    first = {"token": _token(made["invitation"]["url"]), "password": PASSWORD}
    await ok(await mailing.post("/v1/password", json=first, headers=anonymous), 204)
    await ok(await sandbox.delete("/__sandbox/mail"), 204)

    known = await mailing.post(
        "/v1/password-reset", json={"email": "yan@example.com"}, headers=anonymous
    )
    unknown = await mailing.post(
        "/v1/password-reset", json={"email": "nobody@example.com"}, headers=anonymous
    )
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 202
    [message] = (await ok(await sandbox.get("/__sandbox/mail")))["messages"]
    assert message["to"] == ["yan@example.com"]
    new = {"token": _token(message["body"]), "password": "a brand new long phrase"}
    await ok(await mailing.post("/v1/password", json=new, headers=anonymous), 204)
    async with httpx.AsyncClient(transport=mailing._transport, base_url="http://test") as web:
        await sign_in(web, "yan@example.com", "a brand new long phrase")


async def test_without_smtp_a_reset_request_says_so(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/password-reset", json={"email": "x@example.com"}, headers={"Authorization": ""}
    )
    assert answer.status_code == 409
    assert answer.json()["code"] == "email_not_configured"
