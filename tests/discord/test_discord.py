"""The Discord bot end to end (issue 15): connecting an application, signed interactions
(good, tampered, missing and stale signatures, PING), /link, /submit-post with each of its
outcomes through the worker's follow-up and the fake Discord, autocomplete, /my-posts, and
registering the command set."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.discord import integrations as discord_integrations
from app.discord.commands import COMMANDS
from app.discord.interactions import Submission
from app.discord.submit import follow_up
from app.domain.enums import Platform, Role
from app.main import create_app
from app.models import ApiKey, DiscordIntegration, PostEvent
from app.platforms.sandbox import FakeDiscord, Sandbox
from app.platforms.sandbox import create_app as create_sandbox
from app.platforms.sandbox.discord import bot_token_for
from app.platforms.sandbox.magic import published_id
from app.platforms.sandbox.videos import video_at
from app.platforms.shortlinks import Resolver
from app.repositories import api_keys
from app.settings import ProviderMode, Settings
from app.webhooks import vault
from app.workers.refresher import Refresher
from tests import factories as f
from tests.discord_kit import interaction, new_key_pair, option, run_jobs, send
from tests.engine_kit import Clock
from tests.processes import cli, sandbox_server, worker_env
from tests.short_link_host import ShortLinkHost, eventually

SM = async_sessionmaker[AsyncSession]
APP_ID = "1187654321098765432"
USER = "80351110224678912"
# Published a day before the sandbox's anchor: tracking, with views, on its first fetch.
VIDEO, *OTHER_VIDEOS = [published_id(Platform.TIKTOK, 24, n) for n in range(6)]


@pytest.fixture
def fake_discord() -> FakeDiscord:
    return FakeDiscord()


@pytest.fixture
async def intake(sandbox: Sandbox, fake_discord: FakeDiscord) -> AsyncIterator[httpx.AsyncClient]:
    """Outbound HTTP of the API and the worker: the sandbox with its fake Discord."""
    app = create_sandbox(sandbox, fake_discord)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        yield client


@pytest.fixture
def bot_settings(fast: Settings) -> Settings:
    return fast.model_copy(
        update={
            "discord_api_base_url": "http://discord.test/discord/api/v10",
            "discord_fetch_wait_seconds": 30,
        }
    )


@pytest.fixture
async def api(
    bot_settings: Settings, engine: AsyncEngine, committed: SM, intake: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client of an app whose writes commit (the worker reads them)."""
    app = create_app(bot_settings, engine=engine, http=intake)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
async def admin_key(committed: SM) -> str:
    async with committed() as session:
        _, key = await api_keys.create_organization(session, "Bot org")
        await session.commit()
    return key


@pytest.fixture
def admin(api: httpx.AsyncClient, admin_key: str) -> httpx.AsyncClient:
    api.headers["Authorization"] = f"Bearer {admin_key}"
    return api


@pytest.fixture
def keys() -> tuple[str, str]:
    return new_key_pair()


@pytest.fixture
async def connected(admin: httpx.AsyncClient, keys: tuple[str, str]) -> str:
    """Connects the application; returns the private key that signs its interactions."""
    body = {"application_id": APP_ID, "public_key": keys[1], "bot_token": "bot-secret-token"}
    await f.ok(await admin.put("/v1/integrations/discord", json=body))
    return keys[0]


@pytest.fixture
def worker_ctx(
    committed: SM,
    intake: httpx.AsyncClient,
    bot_settings: Settings,
    make_refresher: Any,
    clock: Clock,
) -> dict[str, Any]:
    refresher: Refresher = make_refresher()
    return {
        "sessionmaker": committed,
        "intake_http": intake,
        "settings": bot_settings,
        "refresher": refresher,
        "running": set(),
    }


@pytest.fixture
async def world(admin: httpx.AsyncClient, connected: str, sandbox: Sandbox) -> dict[str, Any]:
    """A campaign with a linked member creator (their handle is the sandbox video's author),
    a campaign they are not in, and an ended campaign they are in."""
    handle = video_at(Platform.TIKTOK, VIDEO, sandbox.anchor, sandbox.now()).handle
    launch = await f.campaign(admin, name="Launch")
    tier = await f.tier(admin, launch["id"], cpm="4.50", cap="99.00", name="Gold secret tier")
    creator = await f.ok(
        await admin.post("/v1/creators", json={"platform": "tiktok", "handle": handle}), 201
    )
    await f.member(admin, launch["id"], creator["id"], tier["id"])
    other = await f.campaign(admin, name="Other brand")
    ended = await f.campaign(admin, name="Spring")
    await f.member(admin, ended["id"], creator["id"])
    await f.ok(await admin.patch(f"/v1/campaigns/{ended['id']}", json={"status": "ended"}))
    return {
        "handle": handle,
        "creator": creator,
        "code": creator["access_code"],
        "launch": launch,
        "other": other,
        "ended": ended,
        "private": connected,
    }


async def _link(api: httpx.AsyncClient, private: str, code: str, user: str = USER) -> str:
    payload = interaction(APP_ID, 2, "link", [option("code", code)], user_id=user)
    answer = await f.ok(await send(api, private, payload))
    assert answer["type"] == 4
    assert answer["data"]["flags"] == 64
    return str(answer["data"]["content"])


async def _submit(
    api: httpx.AsyncClient,
    private: str,
    fake: FakeDiscord,
    redis_url: str,
    ctx: dict[str, Any],
    clock: Clock,
    url: str,
    campaign: str | None = None,
    user: str = USER,
) -> str:
    """Runs /submit-post as Discord would: the deferred answer, then the worker's edit."""
    options = [option("url", url)] + ([option("campaign", campaign)] if campaign else [])
    payload = interaction(APP_ID, 2, "submit-post", options, user_id=user)
    answer = await f.ok(await send(api, private, payload))
    assert answer == {"type": 5, "data": {"flags": 64}}
    clock.now = datetime.now(UTC) + timedelta(seconds=5)  # the new post is due
    await run_jobs(redis_url, ctx)
    (edit,) = [e for e in fake.edits if e["token"] == payload["token"]]
    assert edit["application_id"] == APP_ID
    return str(edit["content"])


def _url(handle: str, video: str = VIDEO) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{video}"


# Connecting


async def test_connecting_stores_the_token_encrypted_and_never_shows_it(
    admin: httpx.AsyncClient, keys: tuple[str, str], committed: SM, bot_settings: Settings
) -> None:
    body = {"application_id": APP_ID, "public_key": keys[1].upper(), "bot_token": "tok-123"}
    put = await f.ok(await admin.put("/v1/integrations/discord", json=body))
    got = await f.ok(await admin.get("/v1/integrations/discord"))
    for shown in (put, got):
        assert "tok-123" not in str(shown)
        assert (shown["application_id"], shown["public_key"], shown["bot_token_set"]) == (
            APP_ID,
            keys[1],
            True,
        )
        assert shown["interactions_path"] == "/discord/interactions"
    async with committed() as session:
        row = await session.scalar(select(DiscordIntegration))
    assert row is not None
    assert "tok-123" not in row.bot_token_encrypted
    assert vault.decrypt(bot_settings, row.bot_token_encrypted) == "tok-123"

    await f.ok(await admin.put("/v1/integrations/discord", json={**body, "bot_token": "tok-9"}))
    async with committed() as session:
        again = await session.scalar(select(DiscordIntegration))
    assert again is not None
    assert vault.decrypt(bot_settings, again.bot_token_encrypted) == "tok-9"
    assert again.api_key_id == row.api_key_id  # the integration keeps its identity

    assert (await admin.delete("/v1/integrations/discord")).status_code == 204
    gone = await admin.get("/v1/integrations/discord")
    assert (gone.status_code, gone.json()["code"]) == (404, "discord_integration_not_found")


async def test_connecting_needs_an_admin_a_real_key_and_a_free_application(
    api: httpx.AsyncClient, admin_key: str, keys: tuple[str, str], committed: SM
) -> None:
    body = {"application_id": APP_ID, "public_key": keys[1], "bot_token": "t"}
    async with committed() as session:
        org = await session.scalar(select(ApiKey.organization_id))
        assert org is not None
        _, editor = await api_keys.create(session, org, Role.EDITOR)
        _, other_admin = await api_keys.create_organization(session, "Rival")
        await session.commit()
    as_editor = await api.put(
        "/v1/integrations/discord", json=body, headers={"Authorization": f"Bearer {editor}"}
    )
    assert (as_editor.status_code, as_editor.json()["code"]) == (403, "forbidden")
    admin = {"Authorization": f"Bearer {admin_key}"}
    too_short = await api.put(
        "/v1/integrations/discord", json={**body, "public_key": "ab" * 31}, headers=admin
    )
    assert too_short.status_code == 422
    assert (await api.put("/v1/integrations/discord", json=body, headers=admin)).status_code == 200
    taken = await api.put(
        "/v1/integrations/discord", json=body, headers={"Authorization": f"Bearer {other_admin}"}
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "discord_application_taken")


async def test_live_connecting_needs_the_application_s_own_bot_token(
    bot_settings: Settings,
    engine: AsyncEngine,
    intake: httpx.AsyncClient,
    admin_key: str,
    keys: tuple[str, str],
    committed: SM,
) -> None:
    """Discord (here the fake) is asked whose the token is before anything is stored, so
    nobody connects an application id they do not own, nor learns whether it is taken."""
    live = bot_settings.model_copy(
        update={"provider_mode": ProviderMode.LIVE, "secret_key": "k" * 32}
    )
    app = create_app(live, engine=engine, http=intake)
    async with committed() as session:
        _, rival = await api_keys.create_organization(session, "Rival")
        await session.commit()
    body = {"application_id": APP_ID, "public_key": keys[1]}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
    ):
        mine = {"Authorization": f"Bearer {admin_key}"}
        theirs = {"Authorization": f"Bearer {rival}"}

        async def put(token: str, headers: dict[str, str]) -> httpx.Response:
            return await api.put(
                "/v1/integrations/discord", json={**body, "bot_token": token}, headers=headers
            )

        junk = await put("not-a-bot-token", mine)
        assert (junk.status_code, junk.json()["code"]) == (422, "discord_bot_token_invalid")
        another = await put(bot_token_for("1000000000000000001"), mine)
        assert (another.status_code, another.json()["code"]) == (
            422,
            "discord_application_mismatch",
        )
        assert "not-a-bot-token" not in junk.text
        nothing = await api.get("/v1/integrations/discord", headers=mine)
        assert nothing.status_code == 404  # nothing was stored
        await f.ok(await put(bot_token_for(APP_ID), mine))
        # Another organization without the owner's token: refused as a stranger, not told
        # that the application is connected elsewhere.
        squat = await put(bot_token_for("1000000000000000002"), theirs)
        assert (squat.status_code, squat.json()["code"]) == (422, "discord_application_mismatch")
        still = await f.ok(await api.get("/v1/integrations/discord", headers=mine))
        assert still["application_id"] == APP_ID


async def test_the_fake_discord_says_whose_a_bot_token_is(intake: httpx.AsyncClient) -> None:
    base = "http://discord.test/discord/api/v10"
    for path in ("/applications/@me", "/oauth2/applications/@me"):
        known = await intake.get(
            base + path, headers={"Authorization": f"Bot {bot_token_for(APP_ID)}"}
        )
        assert (known.status_code, known.json()["id"]) == (200, APP_ID)
        refused = await intake.get(base + path, headers={"Authorization": "Bot nonsense"})
        assert refused.status_code == 401


# Signatures


async def test_signed_ping_pongs_and_bad_signatures_are_refused(
    api: httpx.AsyncClient, connected: str
) -> None:
    ping = interaction(APP_ID, 1)
    assert (await f.ok(await send(api, connected, ping))) == {"type": 1}

    tampered = await send(api, connected, ping, tamper=True)
    assert (tampered.status_code, tampered.json()["code"]) == (401, "invalid_signature")
    stale = await send(api, connected, ping, timestamp=int(time.time()) - 301)
    assert stale.status_code == 401
    future = await send(api, connected, ping, timestamp=int(time.time()) + 301)
    assert future.status_code == 401
    other_key, _ = new_key_pair()
    assert (await send(api, other_key, ping)).status_code == 401
    unsigned = await api.post("/discord/interactions", json=ping)
    assert unsigned.status_code == 401
    unknown_app = await send(api, connected, interaction("42", 1))
    assert unknown_app.status_code == 401
    not_json = await api.post("/discord/interactions", content=b"{", headers={"X": "1"})
    assert not_json.status_code == 401


async def test_every_refused_interaction_answers_the_same_401(
    api: httpx.AsyncClient, connected: str
) -> None:
    """Nothing in a refusal tells an outsider which application ids are connected here."""
    ping = interaction(APP_ID, 1)
    other_key, _ = new_key_pair()
    refusals = [
        await send(api, connected, ping, tamper=True),
        await send(api, connected, ping, timestamp=int(time.time()) - 301),
        await send(api, other_key, ping),
        await api.post("/discord/interactions", json=ping),
        await send(api, connected, interaction("42", 1)),  # nobody's application
        await send(api, other_key, interaction("43", 1)),
        await api.post("/discord/interactions", content=b"{"),
        await api.post("/discord/interactions", json={"type": 1}),  # names no application
    ]
    answers = {
        (r.status_code, r.headers["content-type"], r.json()["code"], r.json()["detail"])
        for r in refusals
    }
    assert len(answers) == 1, answers
    ((status, content_type, code, detail),) = answers
    assert (status, content_type, code) == (401, "application/problem+json", "invalid_signature")
    assert APP_ID not in detail


async def test_interactions_take_small_bodies_and_a_budget_per_address(
    bot_settings: Settings,
    engine: AsyncEngine,
    intake: httpx.AsyncClient,
    connected: str,
    redis: Redis,
) -> None:
    """Refused before the body is read or parsed: too large (413), or past the sending
    address's budget (429), signed or not."""
    gated = bot_settings.model_copy(
        update={"discord_request_burst": 3, "discord_requests_per_second": 0.01}
    )
    app = create_app(gated, engine=engine, http=intake)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api,
    ):
        padded = interaction(APP_ID, 1) | {"padding": "x" * 70_000}
        big = await send(api, connected, padded)
        assert (big.status_code, big.json()["code"]) == (413, "body_too_large")
        assert (await send(api, connected, interaction(APP_ID, 1))).status_code == 200
        assert (await api.post("/discord/interactions", json={})).status_code == 401
        limited = await send(api, connected, interaction(APP_ID, 1))
        assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0


# /link and /my-posts


async def test_link_binds_the_code_s_creator_and_refusals_are_rate_limited(
    api: httpx.AsyncClient, world: dict[str, Any], redis: Redis
) -> None:
    private = world["private"]
    assert "not valid" in await _link(api, private, "0000-0000-0000-0000")
    linked = await _link(api, private, world["code"].lower())
    assert f"@{world['handle']}" in linked
    assert linked.startswith("Linked")
    assert linked.endswith("on TikTok. Submit your videos with /submit-post.")

    guesser = "999"
    answers = [await _link(api, private, f"AAAA-BBBB-CCCC-{n:04d}", guesser) for n in range(11)]
    assert all("not valid" in a for a in answers[:10])
    assert answers[10].startswith("Too many attempts")
    # Even the right code waits while the guesser is over the limit.
    assert (await _link(api, private, world["code"], guesser)).startswith("Too many attempts")


async def test_a_code_of_another_organization_does_not_link(
    api: httpx.AsyncClient, world: dict[str, Any], committed: SM
) -> None:
    async with committed() as session:
        _, rival = await api_keys.create_organization(session, "Rival")
        await session.commit()
    made = await f.ok(
        await api.post(
            "/v1/creators",
            json={"platform": "tiktok", "handle": "someone"},
            headers={"Authorization": f"Bearer {rival}"},
        ),
        201,
    )
    assert "not valid" in await _link(api, world["private"], made["access_code"])


async def test_submit_post_outcomes_through_the_worker_and_the_fake_discord(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    worker_ctx: dict[str, Any],
    clock: Clock,
    redis: Redis,
    committed: SM,
) -> None:
    private, handle = world["private"], world["handle"]

    async def submit(url: str, campaign: str | None = None, user: str = USER) -> str:
        return await _submit(
            api,
            private,
            fake_discord,
            bot_settings.redis_url,
            worker_ctx,
            clock,
            url,
            campaign,
            user,
        )

    assert (await submit(_url(handle))).startswith("Your Discord account is not linked")
    await _link(api, private, world["code"])

    added = await submit(_url(handle))
    posts = (await f.ok(await admin.get(f"/v1/campaigns/{world['launch']['id']}/posts")))["data"]
    (post,) = posts
    assert post["views"] > 0
    assert post["last_fetch_outcome"] == "refreshed"
    assert added == f"Added to **Launch**: {post['views']:,} views so far."
    async with committed() as session:
        actor = await session.scalar(
            select(PostEvent.actor_key_id).where(PostEvent.post_id == uuid.UUID(post["id"]))
        )
        integration = await session.scalar(select(DiscordIntegration))
    assert integration is not None
    assert actor == integration.api_key_id  # the bot added it

    assert (await submit(_url(handle))).startswith("Already tracked")
    other = await submit(_url(handle, OTHER_VIDEOS[0]), world["other"]["id"])
    assert other == "You are not a member of **Other brand**; ask the brand to add you."
    ended = await submit(_url(handle, OTHER_VIDEOS[1]), "spring")  # by name, any case
    assert ended == "**Spring** has ended; it takes no new posts."
    await f.creator(admin, "somebody_else", "tiktok")  # another creator's URL (issue 22)
    mismatch = await submit(_url("somebody_else", OTHER_VIDEOS[2]))
    assert mismatch.startswith("Not your video:")
    assert "@somebody_else" in mismatch
    assert (await submit("https://example.com/video/1")).startswith("Invalid URL:")
    assert (await submit(_url(handle, OTHER_VIDEOS[3]), "No such")).startswith(
        "No campaign by that name"
    )
    # Nothing but the first was added.
    assert len((await f.ok(await admin.get("/v1/posts")))["data"]) == 1


async def test_a_submission_that_lands_on_hold_says_so_and_why(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    worker_ctx: dict[str, Any],
    clock: Clock,
    redis: Redis,
) -> None:
    """The video was published before the campaign's first day: its first fetch holds it,
    and the creator is told that (in their words), not only how many views it has."""
    starts = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    autumn = await f.campaign(admin, name="Autumn", starts_on=starts)
    await f.member(admin, autumn["id"], world["creator"]["id"])
    await _link(api, world["private"], world["code"])
    line = await _submit(
        api,
        world["private"],
        fake_discord,
        bot_settings.redis_url,
        worker_ctx,
        clock,
        _url(world["handle"]),
        "Autumn",
    )
    (post,) = (await f.ok(await admin.get(f"/v1/campaigns/{autumn['id']}/posts")))["data"]
    assert [h["code"] for h in post["holds"]] == ["outside_campaign_window"]
    assert line == (
        "Added to **Autumn**, but it is **on hold**: it was published outside the campaign's "
        f"dates. The brand reviews it before it can be paid; {post['views']:,} views so far."
    )


async def test_submit_post_needs_a_campaign_when_the_creator_is_in_several(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    worker_ctx: dict[str, Any],
    clock: Clock,
    redis: Redis,
) -> None:
    await _link(api, world["private"], world["code"])
    await f.member(admin, world["other"]["id"], world["creator"]["id"])
    answer = await _submit(
        api,
        world["private"],
        fake_discord,
        bot_settings.redis_url,
        worker_ctx,
        clock,
        _url(world["handle"]),
    )
    assert answer == "You are in 2 active campaigns: choose one with the campaign option."
    chosen = await _submit(
        api,
        world["private"],
        fake_discord,
        bot_settings.redis_url,
        worker_ctx,
        clock,
        _url(world["handle"]),
        world["other"]["id"],
    )
    assert chosen.startswith("Added to **Other brand**")


async def test_autocomplete_offers_the_creator_s_active_campaigns(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    private = world["private"]

    async def complete(typed: str, user: str = USER) -> list[dict[str, str]]:
        options = [option("url", "x"), option("campaign", typed, focused=True)]
        payload = interaction(APP_ID, 4, "submit-post", options, user_id=user)
        answer = await f.ok(await send(api, private, payload))
        assert answer["type"] == 8
        return list(answer["data"]["choices"])

    assert await complete("") == []  # not linked yet
    await _link(api, private, world["code"])
    assert await complete("") == [{"name": "Launch", "value": world["launch"]["id"]}]
    await f.member(admin, world["other"]["id"], world["creator"]["id"])
    assert {c["name"] for c in await complete("")} == {"Launch", "Other brand"}
    assert [c["name"] for c in await complete("oth")] == ["Other brand"]


async def test_a_campaign_past_its_end_date_is_neither_offered_nor_fed(
    api: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    worker_ctx: dict[str, Any],
    clock: Clock,
    redis: Redis,
) -> None:
    """Issue 22 item 13: a campaign still `active` as set, but whose last day (UTC) was
    yesterday, has ended: autocomplete leaves it out, it does not count as one of the
    creator's campaigns, and naming it answers that it has ended."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    summer = await f.campaign(admin, name="Summer", ends_on=yesterday)
    await f.member(admin, summer["id"], world["creator"]["id"])
    private = world["private"]
    await _link(api, private, world["code"])
    options = [option("url", "x"), option("campaign", "", focused=True)]
    payload = interaction(APP_ID, 4, "submit-post", options, user_id=USER)
    answer = await f.ok(await send(api, private, payload))
    assert answer["data"]["choices"] == [{"name": "Launch", "value": world["launch"]["id"]}]

    async def submit(url: str, campaign: str | None = None) -> str:
        return await _submit(
            api, private, fake_discord, bot_settings.redis_url, worker_ctx, clock, url, campaign
        )

    named = await submit(_url(world["handle"], OTHER_VIDEOS[0]), "summer")
    assert named == "**Summer** has ended; it takes no new posts."
    by_id = await submit(_url(world["handle"], OTHER_VIDEOS[1]), summer["id"])
    assert by_id == "**Summer** has ended; it takes no new posts."
    # Launch is the creator's one running campaign, so a submission goes there.
    assert (await submit(_url(world["handle"]))).startswith("Added to **Launch**")
    assert (await f.ok(await admin.get(f"/v1/campaigns/{summer['id']}/posts")))["data"] == []


async def test_my_posts_shows_status_views_and_earnings_but_no_rates(
    api: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    worker_ctx: dict[str, Any],
    clock: Clock,
    redis: Redis,
) -> None:
    private = world["private"]
    mine = interaction(APP_ID, 2, "my-posts")
    assert (await f.ok(await send(api, private, mine)))["data"]["content"].startswith(
        "Your Discord account is not linked"
    )
    await _link(api, private, world["code"])
    empty = await f.ok(await send(api, private, interaction(APP_ID, 2, "my-posts")))
    assert "no posts yet" in empty["data"]["content"]
    await _submit(
        api, private, fake_discord, bot_settings.redis_url, worker_ctx, clock, _url(world["handle"])
    )
    listed = await f.ok(await send(api, private, interaction(APP_ID, 2, "my-posts")))
    content = listed["data"]["content"]
    assert listed["data"]["flags"] == 64
    assert "**Launch**" in content
    assert ": tracking, " in content
    assert "views" in content
    assert "no earnings yet" in content
    for secret in ("4.50", "99.00", "Gold", "cpm", "cap", "tier"):
        assert secret not in content


# Registration


async def test_register_puts_the_command_set_on_discord(
    admin: httpx.AsyncClient,
    connected: str,
    committed: SM,
    intake: httpx.AsyncClient,
    bot_settings: Settings,
    fake_discord: FakeDiscord,
) -> None:
    org = uuid.UUID((await f.ok(await admin.get("/v1/me")))["organization_id"])
    async with committed() as session:
        names = await discord_integrations.register_commands(session, intake, bot_settings, org)
    assert names == ["link", "submit-post", "my-posts"]
    registered = fake_discord.commands[APP_ID]
    assert [c["name"] for c in registered] == [c["name"] for c in COMMANDS]
    (submit,) = [c for c in registered if c["name"] == "submit-post"]
    assert [o["autocomplete"] for o in submit["options"] if o["name"] == "campaign"] == [True]


async def test_the_api_registers_the_commands_once_connected(
    admin: httpx.AsyncClient, keys: tuple[str, str], fake_discord: FakeDiscord
) -> None:
    """POST /v1/integrations/discord/commands does what the CLI does (the dashboard's
    settings call it too): 404 before connecting, then the command set, audited."""
    refused = await admin.post("/v1/integrations/discord/commands")
    assert refused.status_code == 404
    assert refused.json()["code"] == "discord_integration_not_found"
    body = {"application_id": APP_ID, "public_key": keys[1], "bot_token": "bot-secret-token"}
    await f.ok(await admin.put("/v1/integrations/discord", json=body))
    answer = await f.ok(await admin.post("/v1/integrations/discord/commands"))
    assert answer == {"registered": ["link", "submit-post", "my-posts"]}
    assert [c["name"] for c in fake_discord.commands[APP_ID]] == [c["name"] for c in COMMANDS]
    audit = await f.ok(
        await admin.get(
            "/v1/audit-events", params={"action": "integration.discord_commands_registered"}
        )
    )
    assert len(audit["data"]) == 1


async def test_the_cli_registers_against_the_sandbox_s_fake_discord(
    admin: httpx.AsyncClient, connected: str, settings: Settings
) -> None:
    org = (await f.ok(await admin.get("/v1/me")))["organization_id"]
    with sandbox_server() as url:
        env = worker_env(settings, url, discord_api_base_url=f"{url}/discord/api/v10")
        line = cli(env, "discord", "register", "--org", org)
        assert line.startswith("registered /link, /submit-post, /my-posts")
        async with httpx.AsyncClient(base_url=url) as sandbox:
            recorded = await sandbox.get("/__sandbox/discord", params={"application_id": APP_ID})
        assert [c["name"] for c in recorded.json()["commands"][APP_ID]] == [
            "link",
            "submit-post",
            "my-posts",
        ]


async def test_a_post_not_fetched_in_time_is_still_added(
    api: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    committed: SM,
    intake: httpx.AsyncClient,
) -> None:
    """The provider is slow or the sweep is busy: the answer says so, the post is tracked."""
    await _link(api, world["private"], world["code"])

    async def busy(platform: Platform) -> None:
        return None  # another sweep has the platform; nothing fetches the post in time

    sub = Submission(
        organization_id=await _org(api),
        application_id=APP_ID,
        interaction_id="1",
        token="tok",
        discord_user_id=USER,
        url=_url(world["handle"]),
        campaign=None,
    )
    no_wait = bot_settings.model_copy(update={"discord_fetch_wait_seconds": 0})
    line = await follow_up(committed, intake, no_wait, sub, busy)
    assert line == "Added to **Launch**. Its views will show after the first fetch."
    assert [e["content"] for e in fake_discord.edits if e["token"] == "tok"] == [line]


async def test_disconnecting_unlinks_every_discord_user(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, world: dict[str, Any], keys: tuple[str, str]
) -> None:
    await _link(api, world["private"], world["code"])
    assert (await admin.delete("/v1/integrations/discord")).status_code == 204
    unknown = await send(api, world["private"], interaction(APP_ID, 2, "my-posts"))
    assert unknown.status_code == 401  # the application is nobody's now
    body = {"application_id": APP_ID, "public_key": keys[1], "bot_token": "t"}
    await f.ok(await admin.put("/v1/integrations/discord", json=body))
    again = await f.ok(await send(api, world["private"], interaction(APP_ID, 2, "my-posts")))
    assert again["data"]["content"].startswith("Your Discord account is not linked")


def test_the_discord_api_defaults_follow_the_provider_mode() -> None:
    sandbox = Settings(_env_file=None)
    assert sandbox.discord_api_url == f"{sandbox.sandbox_url}/discord/api/v10"
    live = Settings(
        _env_file=None,
        tiktok_primary_base_url="https://a",
        tiktok_backup_base_url="https://b",
        instagram_base_url="https://c",
        tiktok_backup_api_key="k",
        instagram_api_key="k",
        secret_key="a-production-secret-key-of-at-least-32-bytes",
    )
    assert live.discord_api_url == "https://discord.com/api/v10"
    chosen = Settings(_env_file=None, discord_api_base_url="http://x/api/")
    assert chosen.discord_api_url == "http://x/api"


async def _org(api: httpx.AsyncClient) -> uuid.UUID:
    return uuid.UUID((await f.ok(await api.get("/v1/me")))["organization_id"])


async def test_a_follow_up_that_fails_still_answers_the_creator(
    api: httpx.AsyncClient,
    world: dict[str, Any],
    fake_discord: FakeDiscord,
    bot_settings: Settings,
    intake: httpx.AsyncClient,
    committed: SM,
) -> None:
    await _link(api, world["private"], world["code"])
    sub = Submission(
        organization_id=await _org(api),
        application_id=APP_ID,
        interaction_id="2",
        token="tok-broken",
        discord_user_id=USER,
        url=_url(world["handle"]),
        campaign=None,
    )
    # PostgreSQL is unreachable from the worker (port 1 refuses connections).
    engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    broken = async_sessionmaker(engine, expire_on_commit=False)
    try:
        with pytest.raises(ConnectionRefusedError):
            await follow_up(broken, intake, bot_settings, sub, _never)
    finally:
        await engine.dispose()
    (edit,) = [e for e in fake_discord.edits if e["token"] == "tok-broken"]
    assert edit["content"].startswith("Something went wrong on our side")


async def _never(platform: Platform) -> None:
    raise AssertionError("nothing was created to fetch")


async def test_a_submitted_short_link_is_followed_off_any_transaction(
    api: httpx.AsyncClient,
    world: dict[str, Any],
    bot_settings: Settings,
    intake: httpx.AsyncClient,
    committed: SM,
    engine: AsyncEngine,
) -> None:
    """Issue 22, item 4: the follow-up follows a short link between its transactions, in the
    worker's one resolver: a link that hangs holds no connection in a transaction."""
    await _link(api, world["private"], world["code"])
    sub = Submission(
        organization_id=await _org(api),
        application_id=APP_ID,
        interaction_id="3",
        token="tok-hang",
        discord_user_id=USER,
        url="https://vm.tiktok.com/HANGD/",
        campaign=None,
    )
    async with ShortLinkHost() as host, httpx.AsyncClient(trust_env=False) as http:
        resolver = Resolver(http, budget_seconds=10, max_hops=5, concurrency=2, via=host.url)
        answering = asyncio.create_task(
            follow_up(committed, intake, bot_settings, sub, _never, resolver)
        )
        await eventually(lambda: host.hanging == 1, what="the link at the host")
        await asyncio.sleep(0.7)
        async with engine.connect() as conn:
            idle = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%'"
                    " AND state_change < clock_timestamp() - interval '0.5 seconds'"
                )
            )
        assert idle == 0
        host.release()
        line = await answering
    assert not line.startswith("Added"), line
