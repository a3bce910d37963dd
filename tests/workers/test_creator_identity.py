"""Pay the right creator for the right video (issue 10), through the API and the refresher
against the sandbox: creator identity and renames, author mismatches, holds and clearing
them, campaign windows, and one video tracked once. (Fetch outcomes are in
test_fetch_outcomes.py, the sweep's decisions in test_deadline_sweep.py.)"""

import uuid
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from app.domain.enums import Platform
from app.models import Creator, Post, PostEvent
from app.platforms.sandbox import (
    OTHER_AUTHOR_HANDLE,
    Magic,
    Sandbox,
    tiktok_id,
)
from app.platforms.sandbox.magic import published_id, rename_handles
from app.platforms.urls import shortcode_to_media_id
from tests import factories as f
from tests.engine_kit import Clock
from tests.workers.conftest import SM, Refresh, _campaign, _get, _member, _url


async def test_a_rename_with_the_same_user_id_is_synced_and_kept_in_history(
    admin: httpx.AsyncClient, refresh: Refresh, sandbox: Sandbox, clock: Clock
) -> None:
    before, after = rename_handles(1)
    cid, tid = await _campaign(admin)
    creator = await _member(admin, cid, tid, before)
    video = tiktok_id(Magic.RENAMES, 1)
    post = await f.post(admin, cid, url=_url(before, video))

    await refresh()  # the first answer binds the creator's user id (the handle is theirs)
    bound = await _get(admin, f"/v1/creators/{creator['id']}")
    assert bound["handle"] == before
    assert bound["platform_user_id"] == sandbox.video(Platform.TIKTOK, video).user_id

    clock.now = sandbox.anchor + timedelta(days=1, hours=1)  # the account has renamed
    await refresh()
    renamed = await _get(admin, f"/v1/creators/{creator['id']}")
    assert (renamed["handle"], renamed["platform_user_id"]) == (after, bound["platform_user_id"])
    history = await _get(admin, f"/v1/creators/{creator['id']}/history")
    assert [(h["old_handle"], h["new_handle"], h["post_id"]) for h in history["data"]] == [
        (before, after, post["id"])
    ]
    assert (await _get(admin, f"/v1/posts/{post['id']}"))["holds"] == []


async def test_a_video_by_another_account_holds_the_post_and_leaves_the_creator_alone(
    admin: httpx.AsyncClient, refresh: Refresh
) -> None:
    """The creator already has a user id; the video's author has the same handle but another
    user id (an impostor, or a reused handle). The post is held at its deadline."""
    cid, tid = await _campaign(admin, finalize_after_days=0)
    creator = await _member(admin, cid, tid, OTHER_AUTHOR_HANDLE, platform_user_id="1234567")
    post = await f.post(admin, cid, url=_url(OTHER_AUTHOR_HANDLE, tiktok_id(Magic.OTHER_AUTHOR)))
    await refresh()

    held = await _get(admin, f"/v1/posts/{post['id']}")
    assert held["status"] == "held"
    assert held["locked_views"] == held["views"] > 0
    assert held["earnings"] is None
    (hold,) = held["holds"]
    assert hold["code"] == "author_mismatch"
    assert hold["evidence"]["expected"]["platform_user_id"] == "1234567"
    assert hold["evidence"]["found"]["platform_user_id"] not in (None, "1234567")
    untouched = await _get(admin, f"/v1/creators/{creator['id']}")
    assert (untouched["handle"], untouched["platform_user_id"]) == (
        OTHER_AUTHOR_HANDLE,
        "1234567",
    )
    listed = await _get(admin, "/v1/posts?status=held&hold=author_mismatch")
    assert [p["id"] for p in listed["data"]] == [post["id"]]
    # A list shows each post as GET /v1/posts/{id} does, its open holds included.
    assert listed["data"] == [held]


async def test_before_binding_only_the_authors_own_handle_binds_and_a_cleared_hold_decides(
    admin: httpx.AsyncClient, refresh: Refresh
) -> None:
    """brand_new_guy adds a video that dev.daily posted: the creator is not renamed or bound,
    the post waits in held, and when an admin clears the hold it is finalized on its locked
    views at the tier's terms."""
    cid, tid = await _campaign(admin, finalize_after_days=0)
    creator = await _member(admin, cid, tid, "brand_new_guy")
    post = await f.post(admin, cid, url=_url("brand_new_guy", tiktok_id(Magic.OTHER_AUTHOR, 9)))
    await refresh()

    held = await _get(admin, f"/v1/posts/{post['id']}")
    assert (held["status"], [h["code"] for h in held["holds"]]) == ("held", ["author_mismatch"])
    unbound = await _get(admin, f"/v1/creators/{creator['id']}")
    assert (unbound["handle"], unbound["platform_user_id"]) == ("brand_new_guy", None)

    unknown = await admin.post(
        f"/v1/posts/{post['id']}/holds/duplicate_video/clear", json={"reason": "x"}
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "hold_not_found")
    cleared = await f.ok(
        await admin.post(
            f"/v1/posts/{post['id']}/holds/author_mismatch/clear",
            json={"reason": "dev.daily is this creator's second account; checked by hand"},
        )
    )
    locked = held["locked_views"]
    assert (cleared["status"], cleared["locked_views"], cleared["holds"]) == (
        "finalized",
        locked,
        [],
    )
    expected = (Decimal(locked) * Decimal("4.5") / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(cleared["earnings"]) == expected
    events = await _get(admin, f"/v1/posts/{post['id']}/events")
    rows = events["data"] if isinstance(events, dict) else events
    assert [(e["from_status"], e["to_status"], e["code"]) for e in rows] == [
        (None, "tracking", "created"),
        ("tracking", "tracking", "hold_raised"),
        ("tracking", "held", "held"),
        ("held", "held", "hold_cleared"),
        ("held", "finalized", "auto_finalized"),
    ]


async def test_a_url_naming_another_author_is_refused_at_creation(
    admin: httpx.AsyncClient,
) -> None:
    cid, tid = await _campaign(admin)
    alice = await _member(admin, cid, tid, "alice")
    await f.creator(admin, "bob", "tiktok")  # a handle nobody here has is taken (issue 22)
    refused = await admin.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": _url("bob", "7300000000000000009"), "creator_id": alice["id"]},
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "author_mismatch"
    assert refused.json()["errors"][0]["pointer"] == "/body/url"
    accepted = await admin.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": _url("@ALICE", "7300000000000000009"), "creator_id": alice["id"]},
    )
    assert accepted.status_code == 201, accepted.text  # handles compare without case or @


async def test_videos_published_outside_the_campaign_dates_are_held(
    admin: httpx.AsyncClient, refresh: Refresh, sandbox: Sandbox
) -> None:
    """Published two days before the anchor: before a campaign that starts on the anchor's
    day, after one that ended five days before it, inside one that spans it."""
    day = sandbox.anchor.date()
    windows = {
        "before_start": (day, None),
        "after_end": (day - timedelta(days=20), day - timedelta(days=5)),
        "inside": (day - timedelta(days=3), day),
    }
    posts = {}
    for n, (name, (starts, ends)) in enumerate(windows.items(), start=1):
        # A campaign past its ends_on takes no posts (issue 22 item 13): "after_end" gets its
        # end date once its post is in, as when a post was added before the campaign ended.
        cid, tid = await _campaign(admin, starts_on=starts.isoformat())
        # One video is tracked once per organization: each campaign gets its own, by its
        # own author.
        video = published_id(Platform.TIKTOK, 48, n)
        author = sandbox.video(Platform.TIKTOK, video).handle
        known = await _get(admin, f"/v1/creators?platform=tiktok&handle={author}")
        if known["data"]:
            await f.member(admin, cid, known["data"][0]["id"], tid)
        else:
            await _member(admin, cid, tid, author)
        posts[name] = await f.post(admin, cid, url=_url(author, video))
        if ends is not None:
            await f.ok(await admin.patch(f"/v1/campaigns/{cid}", json={"ends_on": str(ends)}))
    await refresh()
    for name, post in posts.items():
        holds = (await _get(admin, f"/v1/posts/{post['id']}"))["holds"]
        codes = [h["code"] for h in holds]
        assert codes == ([] if name == "inside" else ["outside_campaign_window"]), name
    (hold,) = (await _get(admin, f"/v1/posts/{posts['before_start']['id']}"))["holds"]
    assert hold["evidence"]["starts_on"] == day.isoformat()


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (
            {"url": _url("scout2015", "7400000000000000001")},
            {"url": _url("scout2015", "07400000000000000001")},
        ),
        (
            {"platform": "tiktok", "platform_post_id": "7400000000000000001", "creator_id": None},
            {"url": _url("scout2015", "0007400000000000000001")},
        ),
        (
            {"url": "https://www.instagram.com/p/DUPTEST1/", "creator_id": None},
            {"url": "https://www.instagram.com/reel/AAAADUPTEST1/", "creator_id": None},
        ),
        (
            {"url": "https://www.instagram.com/p/ADUPTEST1/", "creator_id": None},
            {
                "platform": "instagram",
                "platform_post_id": str(shortcode_to_media_id("DUPTEST1")),
                "creator_id": None,
            },
        ),
    ],
)
async def test_one_video_is_tracked_once_per_organization_however_its_id_is_written(
    client: httpx.AsyncClient, first: dict[str, Any], again: dict[str, Any]
) -> None:
    s = await f.setup_campaign(client)
    other = await f.campaign(client, name="Other campaign")
    for cid in (s["campaign"]["id"], other["id"]):
        if cid != s["campaign"]["id"]:
            await f.member(client, cid, s["tiktok"]["id"])
            await f.member(client, cid, s["instagram"]["id"])

    def body(spec: dict[str, Any]) -> dict[str, Any]:
        creator = s["instagram"] if "instagram" in str(spec) else s["tiktok"]
        filled = {k: v for k, v in spec.items() if k != "creator_id"}
        if "creator_id" in spec or "platform" in spec:
            filled["creator_id"] = creator["id"]
        return filled

    made = await f.post(client, s["campaign"]["id"], **body(first))
    refused = await client.post(f"/v1/campaigns/{other['id']}/posts", json=body(again))
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "post_exists"
    assert (problem["existing_post_id"], problem["existing_campaign_id"]) == (
        made["id"],
        s["campaign"]["id"],
    )


async def test_the_migration_keeps_duplicates_it_finds_and_holds_the_later_ones(
    committed: SM, clock: Clock
) -> None:
    """Run the 0008 canonicalization over posts stored before it: '0740...' and '740...'
    in two campaigns are one video; the later one is held as a duplicate."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.settings import PROJECT_ROOT
    from tests.engine_kit import seed

    first = await seed(committed, [(Platform.TIKTOK, "7400000000000000001")], clock.now)
    async with committed() as session:
        org = first.organization_id
        creator = await session.scalar(select(Creator.id).where(Creator.organization_id == org))
        second_campaign = uuid.uuid4()
        await session.execute(
            text("INSERT INTO campaigns (id, organization_id, name) VALUES (:id, :org, 'B')"),
            {"id": second_campaign, "org": org},
        )
        await session.execute(
            text(
                "INSERT INTO posts (id, organization_id, campaign_id, creator_id, platform,"
                " platform_post_id, url, created_at)"
                " VALUES (:id, :org, :c, :creator, 'tiktok', '07400000000000000001', 'u',"
                " now() + interval '1 minute')"
            ),
            {"id": (later := uuid.uuid4()), "org": org, "c": second_campaign, "creator": creator},
        )
        await session.commit()

    script = ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))
    migration = script.get_revision("0008")
    assert migration is not None
    async with committed() as session:
        # As in the migration: the one-video-once index comes after the canonical ids.
        await session.execute(
            text("DROP INDEX posts_organization_id_platform_platform_post_id_key")
        )
        for statement in migration.module.CANONICALIZE:
            await session.execute(text(statement))
        await session.execute(
            text(
                "CREATE UNIQUE INDEX posts_organization_id_platform_platform_post_id_key"
                " ON posts (organization_id, platform, platform_post_id)"
                " WHERE duplicate_of IS NULL"
            )
        )
        await session.commit()
        rows = (
            await session.execute(
                select(Post.id, Post.platform_post_id, Post.duplicate_of, Post.open_holds)
            )
        ).all()
        events = (await session.execute(select(PostEvent.code))).scalars().all()
    original = first.posts["7400000000000000001"]
    assert sorted(rows, key=lambda r: r.duplicate_of is not None) == [
        (original, "7400000000000000001", None, 0),
        (later, "7400000000000000001", original, 1),
    ]
    assert events == ["hold_raised"]
    async with committed() as session:
        hold = await session.scalar(
            text("SELECT code FROM post_holds WHERE post_id = :p"), {"p": later}
        )
    assert hold == "duplicate_video"
