"""The creator portal (issue 14): a creator signs in with their access code and sees their
own videos and earnings, as JSON and as a page; nothing of anyone else's, no terms."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import PostStatus
from app.main import create_app
from app.models import Post
from app.settings import Settings
from tests import factories as f
from tests.conftest import MakeOrg
from tests.processes import api_server, worker_env

PAID_AT = datetime(2026, 11, 20, 9, tzinfo=UTC)


async def _set(session: AsyncSession, post_id: str, **values: Any) -> None:
    await session.execute(update(Post).where(Post.id == uuid.UUID(post_id)).values(**values))
    await session.commit()


async def _creator_with_posts(
    client: httpx.AsyncClient, session: AsyncSession, handle: str, first: int
) -> dict[str, Any]:
    """A campaign with a secret-looking tier; the creator's posts: tracking, finalized, paid,
    rejected. Returns the creator (with its access code) and its post ids."""
    c = await f.campaign(client, name=f"Campaign of {handle}")
    t = await f.tier(client, c["id"], cpm="7.7700", cap="555.00", name="Gold secret tier")
    creator = await f.creator(client, handle)
    await f.member(client, c["id"], creator["id"], t["id"])
    ids = []
    for n in range(4):
        url = f"https://www.tiktok.com/@{handle}/video/{7_400_000_000_000_000_000 + first + n}"
        ids.append((await f.post(client, c["id"], url=url))["id"])
    await _set(session, ids[0], views=321)
    await _set(session, ids[1], status=PostStatus.FINALIZED, views=3_100, locked_views=3_000,
               earnings=Decimal("23.31"), finalized_at=PAID_AT)  # fmt: skip
    await _set(session, ids[2], status=PostStatus.PAID, views=2_000, locked_views=2_000,
               earnings=Decimal("15.54"), finalized_at=PAID_AT, paid_at=PAID_AT)  # fmt: skip
    await _set(session, ids[3], status=PostStatus.REJECTED, views=400,
               rejection_reason="400 views, below the 1,000 minimum.")  # fmt: skip
    return {"creator": creator, "posts": ids, "code": creator["access_code"]}


def _no_terms(text: str) -> None:
    # With their decimal points: ids and times can contain "555" by chance, never "555.00".
    for secret in ("7.77", "555.00", "Gold secret tier", "cpm", "cap", "tier"):
        assert secret not in text, secret


async def test_a_code_shows_its_creator_only_never_another_org_or_creator(
    app: object,
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_org: MakeOrg,
    client_for: Callable[[str | None], httpx.AsyncClient],
) -> None:
    mine = await _creator_with_posts(client, session, "ana", 0)
    await _creator_with_posts(client, session, "bo", 10)  # same organization, other creator
    other_org = await make_org("Other brand")
    theirs = await _creator_with_posts(client_for(other_org.key), session, "ana", 20)

    portal = client_for(None)  # no API key: the portal does not use one
    bad = await portal.post("/v1/portal/session", json={"access_code": "0000-0000-0000-0000"})
    assert (bad.status_code, bad.json()["code"]) == (401, "access_code_invalid")
    assert (await portal.get("/v1/portal/posts")).json()["code"] == "portal_session_required"

    signed = await portal.post(
        "/v1/portal/session",
        json={"access_code": mine["code"].lower()},
        headers={"Idempotency-Key": "ignored-here"},
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["creator"] == {"handle": "ana", "platform": "tiktok"}
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "max-age=43200" in cookie
    assert "secure" not in cookie  # plain http here; https sets it (below)

    page = await portal.get("/v1/portal/posts")
    assert page.status_code == 200
    _no_terms(page.text)
    posts = page.json()["data"]
    assert sorted(p["id"] for p in posts) == sorted(mine["posts"])
    by_id = {p["id"]: p for p in posts}
    assert {k: by_id[mine["posts"][0]][k] for k in ("status", "views", "earnings")} == {
        "status": "Active",
        "views": 321,
        "earnings": None,
    }
    finalized = by_id[mine["posts"][1]]
    assert (finalized["status"], finalized["views"], finalized["views_locked"]) == (
        "Finalized",
        3_000,
        True,
    )
    assert (finalized["earnings"], finalized["currency"]) == ("23.31", "USD")
    paid = by_id[mine["posts"][2]]
    assert (paid["status"], paid["paid_at"]) == ("Paid", "2026-11-20T09:00:00Z")
    rejected = by_id[mine["posts"][3]]
    assert (rejected["status"], rejected["status_reason"]) == (
        "Rejected",
        "400 views, below the 1,000 minimum.",
    )
    summary = await portal.get("/v1/portal/summary")
    _no_terms(summary.text)
    assert summary.json()["totals"] == [
        {"currency": "USD", "posts": 4, "earned": "38.85", "paid": "15.54", "pending": "23.31"}
    ]

    # The other organization's creator with the same handle sees only theirs.
    other_portal = client_for(None)
    await f.ok(await other_portal.post("/v1/portal/session", json={"access_code": theirs["code"]}))
    assert sorted(p["id"] for p in (await other_portal.get("/v1/portal/posts")).json()["data"]) == (
        sorted(theirs["posts"])
    )

    # Signing out ends it; so does rotating the code (an old session dies with it).
    out = await portal.delete("/v1/portal/session")
    assert out.status_code == 204
    assert (await portal.get("/v1/portal/summary")).status_code == 401
    await f.ok(await client.post(f"/v1/creators/{mine['creator']['id']}/access-code"))
    stale = await f.ok(
        await client_for(None).post("/v1/portal/session", json={"access_code": mine["code"]}), 401
    )
    assert stale["code"] == "access_code_invalid"
    assert (await other_portal.get("/v1/portal/summary")).status_code == 200


async def test_rotating_a_code_ends_its_sessions(
    client: httpx.AsyncClient,
    session: AsyncSession,
    client_for: Callable[[str | None], httpx.AsyncClient],
) -> None:
    mine = await _creator_with_posts(client, session, "cy", 30)
    portal = client_for(None)
    await f.ok(await portal.post("/v1/portal/session", json={"access_code": mine["code"]}))
    assert (await portal.get("/v1/portal/summary")).status_code == 200
    await f.ok(await client.post(f"/v1/creators/{mine['creator']['id']}/access-code"))
    assert (await portal.get("/v1/portal/summary")).status_code == 401


async def test_guessing_codes_answers_429_with_retry_after(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: object,
) -> None:
    strict = settings.model_copy(
        update={"portal_code_attempt_burst": 3, "portal_code_attempts_per_minute": 1}
    )
    app = create_app(strict, engine=engine, sessionmaker=sessionmaker)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        for i in range(3):
            guess = await c.post("/v1/portal/session", json={"access_code": f"GUESS-{i}"})
            assert guess.status_code == 401
        limited = await c.post("/v1/portal/session", json={"access_code": "GUESS-9"})
        assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0
        page = await c.post("/portal/login", data={"access_code": "GUESS-10"})
        assert page.status_code == 429
        assert "Too many attempts" in page.text


async def test_the_page_signs_in_shows_videos_and_totals_and_signs_out(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine = await _creator_with_posts(client, session, "dee", 40)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as web:
        form = await web.get("/portal")
        assert form.status_code == 200
        assert 'name="access_code"' in form.text or "name=access_code" in form.text
        assert form.headers["cache-control"] == "no-store"
        assert "<script" not in form.text  # no script, and nothing fetched from elsewhere
        assert "http" not in form.text.split("<body>")[0]

        wrong = await web.post("/portal/login", data={"access_code": "nope"})
        assert wrong.status_code == 401
        assert "not valid" in wrong.text

        signed = await web.post("/portal/login", data={"access_code": mine["code"]})
        assert (signed.status_code, signed.headers["location"]) == (303, "/portal")
        assert "secure" in signed.headers["set-cookie"].lower()  # served over https
        home = await web.get("/portal")
        assert "@dee" in home.text
        for shown in ("Active", "Finalized", "Paid", "Rejected", "38.85", "15.54", "23.31"):
            assert shown in home.text, shown
        _no_terms(home.text.split("</style>")[1])
        out = await web.post("/portal/logout")
        assert out.status_code == 303
        assert "Sign in" in (await web.get("/portal")).text


# Issue 22: sessions end on the server, same-origin sign-in, forwarded addresses, floods.


async def test_signing_out_ends_the_session_on_the_server_not_only_the_cookie(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A copy of the cookie (another tab, a stolen one) stops working when the creator signs
    out, by the API or by the page; the creator's session on another device goes on."""
    mine = await _creator_with_posts(client, session, "eve", 50)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    phone = httpx.AsyncClient(transport=transport, base_url="http://portal.test")
    await f.ok(await phone.post("/v1/portal/session", json={"access_code": mine["code"]}))
    for sign_out in ("api", "page"):
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as web:
            await f.ok(await web.post("/v1/portal/session", json={"access_code": mine["code"]}))
            copy = {"viewledger_portal": web.cookies["viewledger_portal"]}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://portal.test", cookies=copy
            ) as other_tab:
                assert (await other_tab.get("/v1/portal/summary")).status_code == 200
                if sign_out == "api":
                    assert (await web.delete("/v1/portal/session")).status_code == 204
                else:
                    assert (await web.post("/portal/logout")).status_code == 303
                after = await other_tab.get("/v1/portal/summary")
                assert (after.status_code, after.json()["code"]) == (
                    401,
                    "portal_session_required",
                )
                assert "Sign in" in (await other_tab.get("/portal")).text
                assert (await phone.get("/v1/portal/summary")).status_code == 200
    await phone.aclose()


async def test_signing_in_or_out_from_another_site_is_refused(
    app: object, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """A page elsewhere cannot sign a visitor in as another creator (login CSRF), or out."""
    mine = await _creator_with_posts(client, session, "fay", 60)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    evil = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ]
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as web:
        for headers in evil:
            page = await web.post(
                "/portal/login", data={"access_code": mine["code"]}, headers=headers
            )
            assert page.status_code == 403, headers
            assert "set-cookie" not in page.headers
            api = await web.post(
                "/v1/portal/session", json={"access_code": mine["code"]}, headers=headers
            )
            assert (api.status_code, api.json()["code"]) == (403, "cross_origin_request")
            assert "set-cookie" not in api.headers
        # From the portal itself (a browser says so), it works; so do clients that are no
        # browser (no Origin, no Sec-Fetch-Site). A browser's own word decides: under
        # `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on same-origin posts.
        chromium = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        assert (
            await web.post("/portal/login", data={"access_code": mine["code"]}, headers=chromium)
        ).status_code == 303
        same = {"Origin": "https://portal.test", "Sec-Fetch-Site": "same-origin"}
        signed = await web.post("/portal/login", data={"access_code": mine["code"]}, headers=same)
        assert signed.status_code == 303
        for headers in evil:
            assert (await web.post("/portal/logout", headers=headers)).status_code == 403
            out = await web.delete("/v1/portal/session", headers=headers)
            assert (out.status_code, out.json()["code"]) == (403, "cross_origin_request")
        assert (await web.get("/v1/portal/summary")).status_code == 200  # still signed in
        assert (await web.post("/portal/logout", headers=same)).status_code == 303
        assert (await web.get("/v1/portal/summary")).status_code == 401


async def _attempts(app: object, client: tuple[str, int], forwarded: list[str]) -> list[int]:
    """Sign-in attempts, each with a code of its own (the per-code limit stays out of it)."""
    transport = httpx.ASGITransport(app=app, client=client)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return [
            (
                await c.post(
                    "/v1/portal/session",
                    json={"access_code": f"GUESS-{client[0]}-{address}-{n}"},
                    headers={"X-Forwarded-For": address},
                )
            ).status_code
            for n, address in enumerate(forwarded)
        ]


async def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: object,
) -> None:
    strict = settings.model_copy(
        update={
            "portal_code_attempt_burst": 2,
            "portal_code_attempts_per_minute": 1,
            "trusted_proxies": "10.0.0.0/8, 127.0.0.1",
        }
    )
    app = create_app(strict, engine=engine, sessionmaker=sessionmaker)
    spoofed = [f"198.51.100.{n}" for n in range(4)]
    async with app.router.lifespan_context(app):
        # Anyone else's X-Forwarded-For is ignored: one address, one budget.
        assert await _attempts(app, ("203.0.113.9", 5000), spoofed) == [401, 401, 429, 429]
        # Behind the proxy each forwarded client has its own budget; the proxy's own entry
        # (and a client's attempt to prepend one) does not count.
        behind = [f"6.6.6.6, 192.0.2.{n}, 10.0.0.2" for n in range(4)]
        assert await _attempts(app, ("10.1.2.3", 5000), behind) == [401] * 4
        again = ["7.7.7.7, 192.0.2.0"] * 2  # the same client as the first above
        assert await _attempts(app, ("10.1.2.3", 5000), again) == [401, 429]


def test_uvicorn_as_run_ignores_x_forwarded_for_from_anyone(settings: Settings) -> None:
    """The API as `make run` and the Dockerfile start it: uvicorn itself would take the
    client address from X-Forwarded-For on any local connection."""
    env = worker_env(
        settings,
        "http://127.0.0.1:9",
        portal_code_attempt_burst=2,
        portal_code_attempts_per_minute=1,
        trusted_proxies="",
    )
    with api_server(env) as url:
        codes = [
            httpx.post(
                f"{url}/v1/portal/session",
                json={"access_code": f"WRONG-{n}"},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                timeout=30,
            ).status_code
            for n in range(4)
        ]
    assert codes[2:] == [429, 429], codes


async def test_sign_in_takes_small_bodies_and_a_budget_per_address(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: object,
) -> None:
    """Refused before anything parses them: a large body (413) and, past the address's
    budget, any request at all (429), whatever the access code limits would say."""
    gated = settings.model_copy(update={"portal_request_burst": 3, "portal_requests_per_minute": 1})
    app = create_app(gated, engine=engine, sessionmaker=sessionmaker)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        big = await c.post("/portal/login", content=b"access_code=" + b"A" * 10_000)
        assert (big.status_code, big.json()["code"]) == (413, "body_too_large")
        assert (await c.post("/v1/portal/session", json={"access_code": "X"})).status_code == 401
        assert (await c.post("/portal/login", data={"access_code": ""})).status_code == 422
        limited = await c.post("/v1/portal/session", json={"access_code": "Y"})
        assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0
        assert (await c.post("/portal/login", data={"access_code": "Z"})).status_code == 429
        # The portal's reads are not behind the sign-in budget.
        assert (await c.get("/portal")).status_code == 200
