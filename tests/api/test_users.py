"""Users: invitations, passwords, sessions, sign-in throttling (issue 25, step 1)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import hash_key
from app.domain import passwords
from app.main import create_app
from app.models import User, UserSession, UserToken
from app.services import users as users_service
from app.settings import Settings
from tests.conftest import Org
from tests.factories import campaign, ok

PASSWORD = "a long and unusual phrase 42"


@pytest.fixture(autouse=True)
async def _fresh_redis(redis: Redis) -> None:
    """Sign-in budgets live in Redis: each test starts with full ones."""


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def invite(client: httpx.AsyncClient, email: str, role: str = "admin") -> dict[str, Any]:
    return await ok(await client.post("/v1/users", json={"email": email, "role": role}), 201)


async def activate(
    client: httpx.AsyncClient, email: str, role: str = "admin", password: str = PASSWORD
) -> dict[str, Any]:
    user = await invite(client, email, role)
    token = _token(user["invitation"]["url"])
    anonymous = {"Authorization": ""}
    body = {"token": token, "password": password}
    await ok(await client.post("/v1/password", json=body, headers=anonymous), 204)
    return user


@pytest.fixture
def browser(app: object) -> Callable[..., httpx.AsyncClient]:
    """A client with no API key (a browser): cookies are kept between its requests."""

    def make(address: str = "127.0.0.1", base_url: str = "http://test") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 123))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url=base_url)

    return make


@asynccontextmanager
async def another_api_process(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another API process (its own app, its own caches) on the same database."""
    other = create_app(settings, engine=engine, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=other)
    async with (
        other.router.lifespan_context(other),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, status: int = 200
) -> Any:
    response = await client.post("/v1/session", json={"email": email, "password": password})
    return await ok(response, status)


async def test_invited_user_sets_password_once_and_signs_in(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient], org: Org
) -> None:
    response = await client.post(
        "/v1/users", json={"email": "Ana@Example.com", "name": "Ana", "role": "admin"}
    )
    user = await ok(response, 201)
    assert response.headers["location"] == f"/v1/users/{user['id']}"
    assert user["email"] == "ana@example.com"
    assert user["status"] == "invited"
    token = _token(user["invitation"]["url"])

    async with browser() as web:
        # Not yet: an invited user has no password.
        failed = await sign_in(web, "ana@example.com", PASSWORD, 401)
        assert failed["code"] == "sign_in_failed"
        # Too short (the schema's bound) and too common (the shipped list): the link survives.
        short = await web.post("/v1/password", json={"token": token, "password": "short"})
        assert short.status_code == 422
        common = await web.post("/v1/password", json={"token": token, "password": "Password1234"})
        assert common.status_code == 422
        assert common.json()["code"] == "password_too_weak"
        await ok(await web.post("/v1/password", json={"token": token, "password": PASSWORD}), 204)
        again = await web.post("/v1/password", json={"token": token, "password": PASSWORD})
        assert again.status_code == 422
        assert again.json()["code"] == "link_invalid"

        signed = await sign_in(web, "ANA@example.com")
        assert signed["user"]["status"] == "active"
        assert signed["organization_id"] == str(org.id)
        me = await ok(await web.get("/v1/session"))
        assert me["user"]["id"] == user["id"]
        assert me["csrf_token"] == signed["csrf_token"]


async def test_wrong_email_and_wrong_password_answer_alike(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await activate(client, "ben@example.com")
    async with browser() as web:
        wrong_password = await sign_in(web, "ben@example.com", "not the password at all", 401)
        wrong_email = await sign_in(web, "nobody@example.com", PASSWORD, 401)
    for body in (wrong_password, wrong_email):
        body.pop("request_id")
        body.pop("instance", None)
    assert wrong_password == wrong_email


async def test_expired_link_does_not_set_a_password(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    user = await invite(client, "cy@example.com")
    await session.execute(
        update(UserToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()
    async with browser() as web:
        body = {"token": _token(user["invitation"]["url"]), "password": PASSWORD}
        expired = await web.post("/v1/password", json=body)
    assert expired.status_code == 422
    assert expired.json()["code"] == "link_invalid"


async def test_session_cookie_flags(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await activate(client, "dee@example.com")
    async with browser() as web:
        response = await web.post(
            "/v1/session", json={"email": "dee@example.com", "password": PASSWORD}
        )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie
    async with browser(base_url="https://test") as web:
        response = await web.post(
            "/v1/session", json={"email": "dee@example.com", "password": PASSWORD}
        )
    assert "; secure" in response.headers["set-cookie"].lower()


async def test_session_calls_the_api_and_writes_need_the_csrf_token(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await activate(client, "eve@example.com")
    async with browser() as web:
        signed = await sign_in(web, "eve@example.com")
        await ok(await web.get("/v1/campaigns"))
        refused = await web.post("/v1/campaigns", json={"name": "No token"})
        assert refused.status_code == 403
        assert refused.json()["code"] == "csrf_token_invalid"
        wrong = await web.post(
            "/v1/campaigns", json={"name": "Wrong"}, headers={"X-CSRF-Token": "nope"}
        )
        assert wrong.status_code == 403
        headers = {"X-CSRF-Token": signed["csrf_token"], "Idempotency-Key": "one"}
        made = await ok(await web.post("/v1/campaigns", json={"name": "Ok"}, headers=headers), 201)
        replay = await web.post("/v1/campaigns", json={"name": "Ok"}, headers=headers)
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.json()["id"] == made["id"]
    # The user's own key row is not an API key the organization manages.
    keys = await ok(await client.get("/v1/api-keys"))
    assert len(keys["data"]) == 1


async def test_sign_out_and_sign_out_everywhere(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await activate(client, "fay@example.com")
    async with browser() as one, browser("10.0.0.2") as two, browser("10.0.0.3") as three:
        first = await sign_in(one, "fay@example.com")
        await sign_in(two, "fay@example.com")
        third = await sign_in(three, "fay@example.com")
        stolen = one.cookies.get(users_service.COOKIE)

        await ok(
            await one.delete("/v1/session", headers={"X-CSRF-Token": first["csrf_token"]}), 204
        )
        # The cookie is cleared, and a copy of it no longer works either.
        assert one.cookies.get(users_service.COOKIE) is None
        async with browser() as thief:
            thief.cookies.set(users_service.COOKIE, stolen or "")
            assert (await thief.get("/v1/session")).status_code == 401
        await ok(await two.get("/v1/campaigns"))

        ended = await ok(
            await three.delete("/v1/sessions", headers={"X-CSRF-Token": third["csrf_token"]})
        )
        assert ended == {"sessions_ended": 2}
        assert (await two.get("/v1/campaigns")).status_code == 401
        assert (await three.get("/v1/campaigns")).status_code == 401


async def test_admin_removal_ends_every_session(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    user = await activate(client, "gus@example.com")
    async with browser() as web, browser("10.0.0.9") as other:
        await sign_in(web, "gus@example.com")
        await sign_in(other, "gus@example.com")
        await ok(await client.delete(f"/v1/users/{user['id']}"), 204)
        assert (await web.get("/v1/campaigns")).status_code == 401
        assert (await other.get("/v1/session")).status_code == 401
        await sign_in(web, "gus@example.com", PASSWORD, 401)
    removed = await ok(await client.get(f"/v1/users/{user['id']}"))
    assert removed["status"] == "removed"


async def test_idle_timeout_and_absolute_lifetime(
    client: httpx.AsyncClient,
    browser: Callable[..., httpx.AsyncClient],
    session: AsyncSession,
    settings: Settings,
) -> None:
    await activate(client, "hal@example.com")
    async with browser() as idle, browser() as old:
        await sign_in(idle, "hal@example.com")
        await sign_in(old, "hal@example.com")
        idle_hash = hash_key(idle.cookies[users_service.COOKIE])
        old_hash = hash_key(old.cookies[users_service.COOKIE])
        now = datetime.now(UTC)
        unused = now - timedelta(minutes=settings.session_idle_minutes, seconds=1)
        await session.execute(
            update(UserSession)
            .where(UserSession.token_hash == idle_hash)
            .values(last_seen_at=unused)
        )
        # Used a minute ago, but signed in longer ago than the absolute lifetime.
        await session.execute(
            update(UserSession)
            .where(UserSession.token_hash == old_hash)
            .values(expires_at=now - timedelta(seconds=1), last_seen_at=now)
        )
        await session.commit()
        assert (await idle.get("/v1/session")).status_code == 401
        assert (await old.get("/v1/session")).status_code == 401


async def test_a_used_session_is_not_idle(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    await activate(client, "ida@example.com")
    async with browser() as web:
        await sign_in(web, "ida@example.com")
        token_hash = hash_key(web.cookies[users_service.COOKIE])
        earlier = datetime.now(UTC) - timedelta(minutes=5)
        await session.execute(
            update(UserSession)
            .where(UserSession.token_hash == token_hash)
            .values(last_seen_at=earlier)
        )
        await session.commit()
        await ok(await web.get("/v1/session"))
        seen = await session.scalar(
            select(UserSession.last_seen_at).where(UserSession.token_hash == token_hash)
        )
    assert seen is not None
    assert seen > earlier + timedelta(minutes=4)


async def test_a_session_is_kept_a_few_seconds_and_read_afresh_after_any_write(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    """A session read is kept a few seconds, as an API key is (app.state.sessions): what
    another process changes shows within them. Any write this process answers, whoever
    asked, forgets every session it kept, so the change shows on the very next request."""
    await campaign(client)
    user = await activate(client, "una@example.com")
    async with browser() as web:
        await sign_in(web, "una@example.com")
        assert len((await ok(await web.get("/v1/campaigns")))["data"]) == 1  # an admin's view
        await ok(await client.patch(f"/v1/users/{user['id']}", json={"role": "member"}))
        assert (await ok(await web.get("/v1/campaigns")))["data"] == []  # a member's at once
        # Ended where this process does not see it (another API process, say): kept.
        token_hash = hash_key(web.cookies[users_service.COOKIE])
        await session.execute(
            update(UserSession)
            .where(UserSession.token_hash == token_hash)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
        await ok(await web.get("/v1/campaigns"))
        await campaign(client)  # a write answered here, by anyone
        assert (await web.get("/v1/campaigns")).status_code == 401


async def test_a_kept_session_still_ends_at_its_lifetime(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    """Kept or not, a session is refused once SESSION_MAX_HOURS after sign-in have passed."""
    await activate(client, "uli@example.com")
    async with browser() as web:
        await sign_in(web, "uli@example.com")
        token_hash = hash_key(web.cookies[users_service.COOKIE])
        ends = datetime.now(UTC) + timedelta(seconds=1)
        await session.execute(
            update(UserSession).where(UserSession.token_hash == token_hash).values(expires_at=ends)
        )
        await session.commit()
        await ok(await web.get("/v1/campaigns"))  # read and kept, ending in a second
        await asyncio.sleep(max((ends - datetime.now(UTC)).total_seconds(), 0) + 0.05)
        assert (await web.get("/v1/campaigns")).status_code == 401


async def test_a_member_reaches_nothing_organization_wide(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    await campaign(client)
    await activate(client, "jo@example.com", role="member")
    async with browser() as web:
        await sign_in(web, "jo@example.com")
        await ok(await web.get("/v1/session"))
        assert (await ok(await web.get("/v1/campaigns")))["data"] == []
        assert (await web.get("/v1/posts")).status_code == 403


async def test_an_api_key_has_no_session(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/session")
    assert answer.status_code == 403
    assert answer.json()["code"] == "session_required"


async def test_admin_issues_a_password_link(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient]
) -> None:
    user = await activate(client, "kit@example.com")
    link = await ok(await client.post(f"/v1/users/{user['id']}/password-link"))
    newer = await ok(await client.post(f"/v1/users/{user['id']}/password-link"))
    async with browser() as web:
        await sign_in(web, "kit@example.com")
        body = {"token": _token(link["url"]), "password": "another long phrase 77"}
        older = await web.post("/v1/password", json=body)
        assert older.json()["code"] == "link_invalid"  # a newer link replaced it
        body["token"] = _token(newer["url"])
        await ok(await web.post("/v1/password", json=body), 204)
        # Setting the password ends the sessions there were.
        assert (await web.get("/v1/session")).status_code == 401
        await sign_in(web, "kit@example.com", PASSWORD, 401)
        await sign_in(web, "kit@example.com", "another long phrase 77")


async def test_users_admin_api(client: httpx.AsyncClient, make_org: Any, client_for: Any) -> None:
    first = await invite(client, "lee@example.com")
    second = await invite(client, "max@example.com", "member")
    taken = await client.post("/v1/users", json={"email": "LEE@example.com", "role": "admin"})
    assert taken.status_code == 409
    assert taken.json()["code"] == "email_taken"
    page = await ok(await client.get("/v1/users", params={"limit": 1}))
    assert [u["id"] for u in page["data"]] == [first["id"]]
    rest = await ok(await client.get("/v1/users", params={"cursor": page["next_cursor"]}))
    assert [u["id"] for u in rest["data"]] == [second["id"]]
    changed = await ok(
        await client.patch(f"/v1/users/{second['id']}", json={"role": "admin", "name": "Max"})
    )
    assert changed["role"] == "admin"
    assert changed["name"] == "Max"
    other = await make_org("Other")
    async with client_for(other.key) as stranger:
        assert (await stranger.get(f"/v1/users/{first['id']}")).status_code == 404
        gone = await stranger.delete(f"/v1/users/{first['id']}")
        assert gone.status_code == 404


async def test_sign_in_rehashes_a_password_hashed_with_old_parameters(
    client: httpx.AsyncClient, browser: Callable[..., httpx.AsyncClient], session: AsyncSession
) -> None:
    await activate(client, "ned@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await session.execute(
        update(User).where(User.email == "ned@example.com").values(password_hash=weak)
    )
    await session.commit()
    async with browser() as web:
        await sign_in(web, "ned@example.com")
    stored = await session.scalar(select(User.password_hash).where(User.email == "ned@example.com"))
    assert stored is not None
    assert stored != weak
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, PASSWORD) == passwords.Verified(True, False)


@asynccontextmanager
async def throttled_app(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    per_minute: float,
    burst: int,
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    tight = settings.model_copy(
        update={"sign_in_attempts_per_minute": per_minute, "sign_in_attempt_burst": burst}
    )
    app = create_app(tight, engine=engine, sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):

        def make(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 123))
            return httpx.AsyncClient(transport=transport, base_url="http://test")

        yield make


async def test_sign_in_is_throttled_per_account_and_per_address(
    client: httpx.AsyncClient,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await activate(client, "ola@example.com")
    async with throttled_app(settings, engine, sessionmaker, 1, 3) as make:
        # Per account: guesses from many addresses.
        for i in range(3):
            async with make(f"10.1.0.{i}") as web:
                await sign_in(web, "ola@example.com", "wrong password here", 401)
        async with make("10.1.0.99") as web:
            limited = await web.post(
                "/v1/session", json={"email": "ola@example.com", "password": PASSWORD}
            )
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        # Per address: one address guessing many accounts.
        async with make("10.2.0.1") as web:
            for i in range(3):
                await sign_in(web, f"p{i}@example.com", PASSWORD, 401)
            limited = await web.post(
                "/v1/session", json={"email": "p9@example.com", "password": PASSWORD}
            )
        assert limited.status_code == 429
        assert "retry-after" in limited.headers


async def test_no_permanent_lockout(
    client: httpx.AsyncClient,
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await activate(client, "pia@example.com")
    async with throttled_app(settings, engine, sessionmaker, 12, 2) as make:
        async with make("10.3.0.1") as attacker:
            for _ in range(2):
                await sign_in(attacker, "pia@example.com", "wrong password here", 401)
            limited = await attacker.post(
                "/v1/session", json={"email": "pia@example.com", "password": PASSWORD}
            )
            assert limited.status_code == 429
        await asyncio.sleep(float(limited.headers["retry-after"]) + 0.1)
        async with make("10.3.0.2") as owner:
            await sign_in(owner, "pia@example.com")


def test_password_rule() -> None:
    assert passwords.problem("x" * 11) is not None
    assert passwords.problem("correct horse battery") is None
    assert passwords.problem("QwertyQwerty") is not None  # common, any case
    assert passwords.problem("y" * 257) is not None
    assert len(passwords.common_passwords()) > 50


async def test_cli_invites_a_user_whose_link_works(
    settings: Settings,
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app import cli
    from app.repositories import api_keys
    from app.settings import get_settings

    async with committed() as session:
        org, _ = await api_keys.create_organization(session, "Cli")
        await session.commit()
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        await asyncio.to_thread(
            cli.main,
            [
                "users",
                "create",
                "--org",
                str(org.id),
                "--email",
                "Root@Example.com",
                "--role",
                "admin",
            ],
        )
    finally:
        get_settings.cache_clear()
    url = capsys.readouterr().out.strip().splitlines()[-1]
    app = create_app(settings, engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as web,
    ):
        body = {"token": _token(url), "password": PASSWORD}
        await ok(await web.post("/v1/password", json=body), 204)
        signed = await sign_in(web, "root@example.com")
    assert signed["user"]["role"] == "admin"
    assert signed["organization_id"] == str(org.id)


async def test_make_run_s_demo_admin_user_signs_in(
    settings: Settings,
    engine: AsyncEngine,
    committed: async_sessionmaker[AsyncSession],
    tmp_path: Any,
) -> None:
    import json

    from app import run
    from app.cli import create_org

    org_id, key = await create_org(settings, "Demo")
    demo = tmp_path / "demo.json"
    demo.write_text(json.dumps({"organization_id": str(org_id), "key": key}))
    email, password = await asyncio.to_thread(run.demo_user, settings, demo)
    # A second start prints the same sign-in.
    assert await asyncio.to_thread(run.demo_user, settings, demo) == (email, password)
    app = create_app(settings, engine=engine)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as web,
    ):
        signed = await sign_in(web, email, password)
    assert signed["user"]["role"] == "admin"
    assert signed["organization_id"] == str(org_id)


async def test_a_session_survives_a_restart_of_the_api(
    client: httpx.AsyncClient,
    browser: Callable[..., httpx.AsyncClient],
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Sessions live in PostgreSQL, not in a process: a new API process (another app built
    on the same database) knows the cookie, and signing out there ends it everywhere."""
    await activate(client, "gus@example.com")
    async with browser() as before:
        started = await sign_in(before, "gus@example.com")
        cookie = before.cookies.get(users_service.COOKIE) or ""
    async with another_api_process(settings, engine, sessionmaker) as after:
        after.cookies.set(users_service.COOKIE, cookie)
        await ok(await after.get("/v1/campaigns"))
        csrf = {"X-CSRF-Token": started["csrf_token"]}
        await ok(await after.delete("/v1/session", headers=csrf), 204)
    async with browser() as again:
        again.cookies.set(users_service.COOKIE, cookie)
        assert (await again.get("/v1/session")).status_code == 401
