"""Authorship by user id, decided when a result is written (issue 22, items 1, 14 and 17):
a new creator's several videos bind it once and hold none, on both platforms, however the
claim's results are split into writes; a URL with one of the creator's handles, old or
unknown, is taken and the fetch decides by user id; a URL naming another creator of the
organization is refused; the README's short-link example is the creator's own video."""

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.domain.policy import Policy
from app.models import Creator, CreatorRename, Post
from app.platforms.contract import VideoRef, VideoStats
from app.platforms.registry import build_clients
from app.platforms.sandbox import OTHER_AUTHOR_HANDLE, Magic, Sandbox, tiktok_id, videos_by
from app.repositories import claims
from app.services import refresh_results
from app.settings import Settings
from tests import factories as f
from tests.conftest import committed_admin
from tests.engine_kit import Clock

SM = async_sessionmaker[AsyncSession]
Refresh = Callable[[], Awaitable[None]]


@pytest.fixture
async def admin(
    settings: Settings, engine: AsyncEngine, committed: SM, http: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a new organization on an app whose writes commit, following short
    links through the sandbox."""
    async with committed_admin(settings, engine, committed, "Authors", http) as client:
        yield client


def _url(platform: Platform, video: str, handle: str | None = None) -> str:
    if platform is Platform.TIKTOK:
        return f"https://www.tiktok.com/@{handle}/video/{video}"
    return f"https://www.instagram.com/reel/{video}/"


async def _new_creator(
    admin: httpx.AsyncClient, platform: Platform, handle: str, **fields: Any
) -> tuple[str, dict[str, Any]]:
    """A campaign deciding at once (finalize_after_days=0) with a new member creator; returns
    (campaign id, creator)."""
    campaign = await f.campaign(admin, finalize_after_days=0)
    tier = await f.tier(admin, campaign["id"])
    creator = await f.ok(
        await admin.post(
            "/v1/creators", json={"platform": platform.value, "handle": handle, **fields}
        ),
        201,
    )
    await f.member(admin, campaign["id"], creator["id"], tier["id"])
    return campaign["id"], creator


async def _get(client: httpx.AsyncClient, path: str) -> Any:
    return await f.ok(await client.get(path))


async def _holds(admin: httpx.AsyncClient, posts: list[dict[str, Any]]) -> dict[str, list[str]]:
    found = {}
    for post in posts:
        got = await _get(admin, f"/v1/posts/{post['id']}")
        found[got["platform_post_id"]] = [h["code"] for h in got["holds"]]
    return found


@pytest.mark.parametrize(
    ("platform", "handle", "n"),
    [(Platform.TIKTOK, "lena_creates", 25), (Platform.INSTAGRAM, "lena.moves", 3)],
)
async def test_a_new_creators_videos_written_one_by_one_bind_it_once_and_hold_none(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    clock: Clock,
    platform: Platform,
    handle: str,
    n: int,
) -> None:
    """One claim takes all of a new creator's videos (the creator's user id unknown when it
    is taken); their results are written one transaction at a time, as a paced lane writes
    them. The first write binds the creator; every later one is checked against the id it
    bound, not the claim's empty copy, so none is held."""
    cid, creator = await _new_creator(admin, platform, handle)
    videos = videos_by(platform, handle, n)
    for video in videos:
        await f.post(admin, cid, url=_url(platform, video, handle), creator_id=creator["id"])
    policy = Policy.from_settings(fast)
    async with committed() as session:
        await session.execute(update(Post).values(next_refresh_at=clock.now))
        due = await claims.claim(
            session, platform, now=clock.now, limit=100, lease=timedelta(minutes=5), policy=policy
        )
        await session.commit()
    assert len(due) == n
    client = build_clients(fast, http)[platform]
    for post in due:
        stats = await client.fetch(VideoRef(platform, post.platform_post_id, post.handle))
        assert isinstance(stats, VideoStats)
        async with committed() as session:
            await refresh_results.write(session, [(post, stats)], clock.now, policy)
            await session.commit()

    bound = await _get(admin, f"/v1/creators/{creator['id']}")
    expected_id = sandbox.video(platform, videos[0]).user_id
    assert (bound["handle"], bound["platform_user_id"]) == (handle, expected_id)
    posts = (await _get(admin, f"/v1/posts?campaign_id={cid}&limit=100"))["data"]
    assert len(posts) == n
    assert {p["status"] for p in posts} <= {"finalized", "rejected"}  # decided, none held
    assert all(held == [] for held in (await _holds(admin, posts)).values())


@pytest.mark.parametrize(
    ("platform", "handle", "n"),
    [(Platform.TIKTOK, "mia.moves", 25), (Platform.INSTAGRAM, "lena.moves", 3)],
)
async def test_a_new_creators_batch_through_the_refresher_binds_once_and_holds_only_others(
    admin: httpx.AsyncClient,
    refresh: Refresh,
    sandbox: Sandbox,
    platform: Platform,
    handle: str,
    n: int,
) -> None:
    """The same through the worker's sweep, with one video by someone else among them (its
    URL names the creator, or, on Instagram, nobody): that one alone is held, with a reason
    that names two different people."""
    cid, creator = await _new_creator(admin, platform, handle)
    own = [
        await f.post(admin, cid, url=_url(platform, v, handle), creator_id=creator["id"])
        for v in videos_by(platform, handle, n)
    ]
    other_handle = "ines_travels" if platform is Platform.TIKTOK else "ines.away"
    (stranger,) = videos_by(platform, other_handle, 1, seed="stranger")
    theirs = await f.post(
        admin, cid, url=_url(platform, stranger, handle), creator_id=creator["id"]
    )
    await refresh()

    bound = await _get(admin, f"/v1/creators/{creator['id']}")
    assert bound["platform_user_id"] == sandbox.video(platform, own[0]["platform_post_id"]).user_id
    assert all(h == [] for h in (await _holds(admin, own)).values())
    held = await _get(admin, f"/v1/posts/{theirs['id']}")
    assert (held["status"], [h["code"] for h in held["holds"]]) == ("held", ["author_mismatch"])
    reason = held["holds"][0]["reason"]
    assert f"@{other_handle}" in reason, reason
    assert f"@{handle}" in reason, reason


async def test_a_creator_bound_by_another_writer_after_the_claim_is_not_held(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    clock: Clock,
) -> None:
    """Another worker bound the creator between this claim and its write (the claim's copy
    says unbound): the write reads the creator as stored, so the video is the creator's."""
    cid, _ = await _new_creator(admin, Platform.TIKTOK, "kai.codes")
    (video,) = videos_by(Platform.TIKTOK, "kai.codes", 1)
    await f.post(admin, cid, url=_url(Platform.TIKTOK, video, "kai.codes"))
    policy = Policy.from_settings(fast)
    async with committed() as session:
        await session.execute(update(Post).values(next_refresh_at=clock.now))
        (due,) = await claims.claim(
            session, Platform.TIKTOK, now=clock.now, limit=10, lease=timedelta(minutes=5),
            policy=policy,
        )  # fmt: skip
        await session.commit()
    async with committed() as session:
        await session.execute(
            update(Creator)
            .where(Creator.handle == "kai.codes")
            .values(platform_user_id=sandbox.video(Platform.TIKTOK, video).user_id)
        )
        await session.commit()
    stats = await build_clients(fast, http)[Platform.TIKTOK].fetch(
        VideoRef(Platform.TIKTOK, video, "kai.codes")
    )
    assert isinstance(stats, VideoStats)
    async with committed() as session:
        await refresh_results.write(session, [(due, stats)], clock.now, policy)
        await session.commit()
    post = (await _get(admin, f"/v1/posts?campaign_id={cid}"))["data"][0]
    assert (await _get(admin, f"/v1/posts/{post['id']}"))["holds"] == []


async def test_a_url_with_the_creators_old_handle_is_taken_and_decided_by_user_id(
    admin: httpx.AsyncClient, refresh: Refresh, committed: SM, sandbox: Sandbox
) -> None:
    """@nora_lifts was @nora.old before (in the creator's rename history), and another
    creator here has @nora.old now: her video's URL with her old handle is still accepted,
    and the fetch confirms her by user id."""
    (video,) = videos_by(Platform.TIKTOK, "nora_lifts", 1)
    account = sandbox.video(Platform.TIKTOK, video).user_id
    cid, creator = await _new_creator(
        admin, Platform.TIKTOK, "nora_lifts", platform_user_id=account
    )
    async with committed() as session:
        org = await session.scalar(
            select(Creator.organization_id).where(Creator.handle == "nora_lifts")
        )
        await session.execute(
            insert(CreatorRename).values(
                organization_id=org,
                creator_id=creator["id"],
                old_handle="nora.old",
                new_handle="nora_lifts",
                renamed_at=func.now(),
            )
        )
        await session.commit()
    await f.creator(admin, "nora.old", "tiktok")
    post = await f.post(
        admin, cid, url=_url(Platform.TIKTOK, video, "nora.old"), creator_id=creator["id"]
    )
    await refresh()
    got = await _get(admin, f"/v1/posts/{post['id']}")
    assert got["holds"] == []
    assert got["status"] in ("finalized", "rejected")


async def test_a_url_with_a_handle_no_creator_has_is_taken_and_the_fetch_decides(
    admin: httpx.AsyncClient, refresh: Refresh, sandbox: Sandbox
) -> None:
    """A handle nobody in the organization has (the creator's name before joining, say):
    accepted; the fetch binds the creator on its own video and holds the one it did not
    post."""
    cid, creator = await _new_creator(admin, Platform.TIKTOK, "chef.tomas")
    (own,) = videos_by(Platform.TIKTOK, "chef.tomas", 1)
    (not_own,) = videos_by(Platform.TIKTOK, "dev.daily", 1)
    mine = await f.post(
        admin, cid, url=_url(Platform.TIKTOK, own, "tomas_before"), creator_id=creator["id"]
    )
    stranger = await f.post(
        admin, cid, url=_url(Platform.TIKTOK, not_own, "tomas_before"), creator_id=creator["id"]
    )
    await refresh()
    bound = await _get(admin, f"/v1/creators/{creator['id']}")
    assert bound["platform_user_id"] == sandbox.video(Platform.TIKTOK, own).user_id
    assert await _holds(admin, [mine, stranger]) == {own: [], not_own: ["author_mismatch"]}


async def test_a_url_naming_another_creator_of_the_organization_is_refused(
    admin: httpx.AsyncClient, committed: SM
) -> None:
    cid, alice = await _new_creator(admin, Platform.TIKTOK, "alice")
    bob = await f.creator(admin, "bob", "tiktok")
    video = "7300000000000000009"
    for named in ("bob", "BOB", "bob_before"):
        if named == "bob_before":  # one of bob's old handles is bob's too
            async with committed() as session:
                org = await session.scalar(
                    select(Creator.organization_id).where(Creator.handle == "bob")
                )
                await session.execute(
                    insert(CreatorRename).values(
                        organization_id=org,
                        creator_id=bob["id"],
                        old_handle="bob_before",
                        new_handle="bob",
                        renamed_at=func.now(),
                    )
                )
                await session.commit()
        refused = await admin.post(
            f"/v1/campaigns/{cid}/posts",
            json={"url": _url(Platform.TIKTOK, video, named), "creator_id": alice["id"]},
        )
        assert refused.status_code == 422, named
        problem = refused.json()
        assert problem["code"] == "author_mismatch"
        assert problem["errors"][0]["pointer"] == "/body/url"
        assert "@bob" in problem["detail"].lower()
        assert "@alice" in problem["detail"]
    taken = await admin.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": _url(Platform.TIKTOK, video, "@ALICE"), "creator_id": alice["id"]},
    )
    assert taken.status_code == 201, taken.text


async def test_the_readmes_short_link_example_is_the_creators_own_video(
    admin: httpx.AsyncClient, refresh: Refresh, sandbox: Sandbox
) -> None:
    """README: `{"url": "https://vm.tiktok.com/ZMabc123/"}` for `@sandbox_user`, followed as
    written, is tracked and decided, not held as someone else's."""
    cid, creator = await _new_creator(admin, Platform.TIKTOK, "sandbox_user")
    post = await f.post(admin, cid, url="https://vm.tiktok.com/ZMabc123/", creator_id=creator["id"])
    await refresh()
    got = await _get(admin, f"/v1/posts/{post['id']}")
    assert got["holds"] == []
    assert got["status"] in ("finalized", "rejected")
    bound = await _get(admin, f"/v1/creators/{creator['id']}")
    video = sandbox.video(Platform.TIKTOK, post["platform_post_id"])
    assert (bound["platform_user_id"], video.handle) == (video.user_id, "sandbox_user")


async def test_an_impostor_with_the_creators_handle_is_held_with_a_reason_that_adds_up(
    admin: httpx.AsyncClient, refresh: Refresh
) -> None:
    """Same handle, another account: the reason says so rather than 'not @x, but @x'."""
    cid, _ = await _new_creator(
        admin, Platform.TIKTOK, OTHER_AUTHOR_HANDLE, platform_user_id="1234567"
    )
    post = await f.post(
        admin,
        cid,
        url=_url(Platform.TIKTOK, tiktok_id(Magic.OTHER_AUTHOR), OTHER_AUTHOR_HANDLE),
    )
    await refresh()
    held = await _get(admin, f"/v1/posts/{post['id']}")
    (hold,) = held["holds"]
    assert hold["code"] == "author_mismatch"
    assert f"not @{OTHER_AUTHOR_HANDLE}" not in hold["reason"], hold["reason"]
    assert "1234567" in hold["reason"], hold["reason"]


async def test_two_writers_binding_one_creator_at_once_hold_nothing(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    sandbox: Sandbox,
    clock: Clock,
) -> None:
    """Two writers see the creator unbound; one binds it and commits while the other's bind
    waits on the row. The waiting one finds the creator bound by then, reads it again and
    decides by that id: no hold."""
    cid, creator = await _new_creator(admin, Platform.INSTAGRAM, "kai_builds")
    # Two campaigns, so the writers share no campaign day row: only the creator's.
    other = await f.campaign(admin, name="Other", finalize_after_days=0)
    await f.member(admin, other["id"], creator["id"], (await f.tier(admin, other["id"]))["id"])
    first, second = videos_by(Platform.INSTAGRAM, "kai_builds", 2)
    for campaign_id, video in ((cid, first), (other["id"], second)):
        await f.post(
            admin, campaign_id, url=_url(Platform.INSTAGRAM, video), creator_id=creator["id"]
        )
    policy = Policy.from_settings(fast)
    async with committed() as session:
        await session.execute(update(Post).values(next_refresh_at=clock.now))
        due = await claims.claim(
            session, Platform.INSTAGRAM, now=clock.now, limit=10, lease=timedelta(minutes=5),
            policy=policy,
        )  # fmt: skip
        await session.commit()
    client = build_clients(fast, http)[Platform.INSTAGRAM]
    fetched = [
        (post, await client.fetch(VideoRef(Platform.INSTAGRAM, post.platform_post_id)))
        for post in due
    ]
    async with committed() as one, committed() as two:
        await refresh_results.write(one, fetched[:1], clock.now, policy)  # bound, uncommitted
        waiting = asyncio.create_task(refresh_results.write(two, fetched[1:], clock.now, policy))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # its bind waits for the first writer's row lock
        await one.commit()
        await waiting
        await two.commit()
    bound = await _get(admin, f"/v1/creators/{creator['id']}")
    assert bound["platform_user_id"] == sandbox.video(Platform.INSTAGRAM, first).user_id
    posts = (await _get(admin, "/v1/posts"))["data"]
    assert await _holds(admin, posts) == {first: [], second: []}


async def test_one_handle_naming_two_accounts_in_one_batch_binds_neither_and_holds_both(
    admin: httpx.AsyncClient,
    committed: SM,
    fast: Settings,
    http: httpx.AsyncClient,
    clock: Clock,
) -> None:
    """Two answers of one write name the creator's handle with different accounts: which
    one is the creator is for a person to say, so neither binds and both wait in a hold."""
    cid, creator = await _new_creator(admin, Platform.TIKTOK, "ines_travels")
    for video in videos_by(Platform.TIKTOK, "ines_travels", 2):
        await f.post(admin, cid, url=_url(Platform.TIKTOK, video, "ines_travels"))
    policy = Policy.from_settings(fast)
    async with committed() as session:
        await session.execute(update(Post).values(next_refresh_at=clock.now))
        due = await claims.claim(
            session, Platform.TIKTOK, now=clock.now, limit=10, lease=timedelta(minutes=5),
            policy=policy,
        )  # fmt: skip
        await session.commit()
    client = build_clients(fast, http)[Platform.TIKTOK]
    fetched = []
    for post in due:
        stats = await client.fetch(VideoRef(Platform.TIKTOK, post.platform_post_id, post.handle))
        assert isinstance(stats, VideoStats)
        fetched.append((post, stats))
    impostor = dataclasses.replace(fetched[1][1], platform_user_id="6800000000000000001")
    async with committed() as session:
        await refresh_results.write(session, [fetched[0], (due[1], impostor)], clock.now, policy)
        await session.commit()
    unbound = await _get(admin, f"/v1/creators/{creator['id']}")
    assert unbound["platform_user_id"] is None
    for post in (await _get(admin, f"/v1/posts?campaign_id={cid}"))["data"]:
        got = await _get(admin, f"/v1/posts/{post['id']}")
        (hold,) = got["holds"]
        assert (got["status"], hold["code"]) == ("held", "author_mismatch")
        assert "6800000000000000001" in hold["reason"], hold["reason"]


async def test_a_video_from_an_account_another_creator_has_is_held_naming_that_creator(
    admin: httpx.AsyncClient, refresh: Refresh, sandbox: Sandbox
) -> None:
    """@nora.lifts's account is already creator @nora_second's here: the new creator
    @nora.lifts is not bound to it, and the post is held saying whose account it is."""
    cid, creator = await _new_creator(admin, Platform.INSTAGRAM, "nora.lifts")
    (video,) = videos_by(Platform.INSTAGRAM, "nora.lifts", 1)
    account = sandbox.video(Platform.INSTAGRAM, video).user_id
    await f.ok(
        await admin.post(
            "/v1/creators",
            json={"platform": "instagram", "handle": "nora_second", "platform_user_id": account},
        ),
        201,
    )
    post = await f.post(admin, cid, url=_url(Platform.INSTAGRAM, video), creator_id=creator["id"])
    await refresh()
    held = await _get(admin, f"/v1/posts/{post['id']}")
    (hold,) = held["holds"]
    assert (held["status"], hold["code"]) == ("held", "author_mismatch")
    assert "@nora_second" in hold["reason"], hold["reason"]
    assert (await _get(admin, f"/v1/creators/{creator['id']}"))["platform_user_id"] is None
