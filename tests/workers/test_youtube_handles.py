"""A YouTube creator's @handle follows the channel's (issue 30): the daily handle check asks
channels.list (50 channels a call, a quota unit each, from the units above the reserve) and
renames creators through the writer and the `creator.renamed` webhook every platform uses.
Real PostgreSQL and Redis, the sandbox's channels.list in-process."""

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from app.domain.enums import Platform
from app.domain.policy import Policy
from app.models import Creator, WebhookEvent
from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.sandbox.accounts import channel_id
from app.platforms.sandbox.magic import RENAME_AFTER
from app.repositories import handle_checks
from app.workers import capacity, worker
from app.workers.handles import HandleChecker
from app.workers.lanes import Lane, youtube_lanes
from app.workers.quota import DailyQuota, next_reset
from tests import factories as f
from tests.engine_kit import SM, Clock, YouTube, seed


def checker(shorts: YouTube, **more: object) -> tuple[HandleChecker, Lane]:
    """A handle checker on the first YouTube lane, on `shorts.quick(**more)` settings."""
    settings = shorts.quick(**more)
    lanes = youtube_lanes(settings, shorts.http, shorts.redis, None, now=shorts.clock)
    return HandleChecker(shorts.committed, lanes, settings, clock=shorts.clock), lanes[0]


def channel_calls(shorts: YouTube) -> int:
    return sum(1 for r in shorts.sandbox.requests if r.path == "/youtube/v3/channels")


async def units(lane: Lane) -> int:
    assert lane.quota is not None
    return (await lane.quota.state()).used


async def renamed_events(committed: SM) -> list[dict[str, Any]]:
    async with committed() as session:
        rows = await session.scalars(
            select(WebhookEvent.payload).where(WebhookEvent.type == "creator.renamed")
        )
        return [payload["data"] for payload in rows]


async def youtube_creator(admin: httpx.AsyncClient, handle: str, name: str) -> dict[str, Any]:
    return await f.youtube_creator(admin, handle, channel_id(name))


async def test_a_renamed_channels_creator_shows_its_new_handle_and_a_webhook_says_so(
    admin: httpx.AsyncClient,
    shorts: YouTube,
) -> None:
    await f.ok(await admin.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h"}), 201)
    creator = await youtube_creator(admin, "old-name", "handles_1")
    unchanged = await youtube_creator(admin, "Handles_2", "handles_2")  # case is no rename
    shorts.sandbox.rename_channel(channel_id("handles_1"), "new.name")
    job, lane = checker(shorts)

    assert await job.check_due() == {"checked": 2}
    assert (channel_calls(shorts), await units(lane)) == (1, 1)

    shown = await f.ok(await admin.get(f"/v1/creators/{creator['id']}"))
    assert shown["handle"] == "new.name"
    assert (await f.ok(await admin.get(f"/v1/creators/{unchanged['id']}")))["handle"] == (
        "Handles_2"
    )
    history = await f.ok(await admin.get(f"/v1/creators/{creator['id']}/history"))
    assert [(r["old_handle"], r["new_handle"]) for r in history["data"]] == [
        ("old-name", "new.name")
    ]
    [event] = await renamed_events(shorts.committed)
    assert (event["id"], event["handle"], event["previous_handle"]) == (
        creator["id"],
        "new.name",
        "old-name",
    )
    # Found by either handle, as a TikTok creator renamed on a fetch is.
    found = await f.ok(await admin.get("/v1/creators", params={"handle": "new.name"}))
    assert [c["id"] for c in found["data"]] == [creator["id"]]

    # At most once a day per channel: the same day sends nothing.
    shorts.clock.advance(hours=23)
    assert await job.check_due() == {}
    assert channel_calls(shorts) == 1
    # A day after its check the channel is asked again, and a `renamer_` channel's rename
    # (the sandbox's own, a day past its anchor) lands too.
    renamer = await youtube_creator(admin, "renamer_3", "renamer_3")
    shorts.clock.now = max(
        shorts.clock.now + timedelta(hours=2), shorts.sandbox.anchor + RENAME_AFTER
    )
    assert await job.check_due() == {"checked": 3}
    assert channel_calls(shorts) == 2
    assert (await f.ok(await admin.get(f"/v1/creators/{renamer['id']}")))["handle"] == ("renamed_3")
    assert len(await renamed_events(shorts.committed)) == 2


async def test_a_hundred_and_twenty_channels_cost_three_units(
    shorts: YouTube,
) -> None:
    await youtube_creators(shorts.committed, shorts.clock, "many", 120)
    job, lane = checker(shorts)

    assert await job.check_due() == {"checked": 120}
    assert (channel_calls(shorts), await units(lane)) == (3, 3)
    asked = [r.video_id or "" for r in shorts.sandbox.requests if r.path == "/youtube/v3/channels"]
    assert sorted(len(ids.split(",")) for ids in asked) == [20, 50, 50]
    async with shorts.committed() as session:
        checked = set((await session.scalars(select(Creator.handle_checked_at))).all())
    assert checked == {shorts.clock.now}


async def test_with_no_units_above_the_reserve_nothing_is_sent_until_the_reset(
    admin: httpx.AsyncClient,
    shorts: YouTube,
) -> None:
    """The last units of a day are kept for posts still tracking: a handle check takes none
    of them, and its channels stay due for the new day."""
    creator = await youtube_creator(admin, "waits", "waiting_1")
    shorts.sandbox.rename_channel(channel_id("waiting_1"), "waited")
    job, lane = checker(shorts, youtube_daily_quota_units=10, youtube_quota_reserve_units=4)
    assert lane.quota is not None
    assert await lane.quota.spend(6)  # 4 left: the reserve

    assert await job.check_due() == {}
    assert (channel_calls(shorts), await units(lane)) == (0, 6)
    assert (await f.ok(await admin.get(f"/v1/creators/{creator['id']}")))["handle"] == "waits"
    # Even a reader that does not ask the lane first takes nothing from the reserve.
    assert lane.channels is not None
    refused = await lane.channels.handles([channel_id("waiting_1")])
    assert isinstance(refused, FetchError)
    assert refused.kind is FetchErrorKind.QUOTA_EXHAUSTED
    assert (channel_calls(shorts), await units(lane)) == (0, 6)

    shorts.clock.now = next_reset(shorts.clock.now) + timedelta(minutes=1)
    assert await job.check_due() == {"checked": 1}
    assert (channel_calls(shorts), await units(lane)) == (1, 1)
    assert (await f.ok(await admin.get(f"/v1/creators/{creator['id']}")))["handle"] == "waited"


async def test_a_channel_missing_from_the_answer_or_without_a_handle_changes_nothing(
    admin: httpx.AsyncClient,
    shorts: YouTube,
) -> None:
    await f.ok(await admin.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h"}), 201)
    gone = await youtube_creator(admin, "gone-channel", "missing_1")
    bare = await youtube_creator(admin, "bare-channel", "nohandle_1")
    job, _ = checker(shorts)

    assert await job.check_due() == {"checked": 2}
    assert channel_calls(shorts) == 1
    for creator in (gone, bare):
        shown = await f.ok(await admin.get(f"/v1/creators/{creator['id']}"))
        assert (shown["handle"], shown["updated_at"]) == (creator["handle"], creator["updated_at"])
        renames = await f.ok(await admin.get(f"/v1/creators/{creator['id']}/history"))
        assert renames["data"] == []
    assert await renamed_events(shorts.committed) == []
    # Asked about, so not asked again before a day is out.
    assert await job.check_due() == {}
    assert channel_calls(shorts) == 1


async def test_the_handle_check_counts_in_the_units_a_day_needs(shorts: YouTube) -> None:
    """120 channels are 3 calls a check: 3 units a day when checked daily, 6 twice a day."""
    await youtube_creators(shorts.committed, shorts.clock, "counted", 120)
    async with shorts.committed() as session:
        channels = await handle_checks.channel_count(session)
    assert channels == 120
    quota = DailyQuota(shorts.redis, "capacity-lane", 10_000, now=shorts.clock)
    policy = Policy.from_settings(shorts.settings)
    for hours, units_a_day in ((24, 3), (12, 6)):
        async with shorts.committed() as session:
            figures = await capacity.measure(
                session,
                shorts.clock.now,
                policy,
                shorts.quick(youtube_handle_check_hours=hours),
                {Platform.YOUTUBE: (1, 0)},
                quotas={Platform.YOUTUBE: [await quota.state()]},
                channels=channels,
            )
        youtube = figures[Platform.YOUTUBE]
        assert youtube.handle_check_units_per_day == units_a_day
        assert youtube.needed_units_per_day == units_a_day  # no posts, no watches


async def test_the_worker_runs_the_check_hourly_and_never_twice_at_once(
    admin: httpx.AsyncClient,
    shorts: YouTube,
) -> None:
    [cron] = [
        job
        for job in worker.WorkerSettings.cron_jobs
        if job.coroutine is worker.check_youtube_handles
    ]
    assert (cron.minute, cron.max_tries) == (27, 1)
    await youtube_creator(admin, "by-the-worker", "worker_1")
    job, _ = checker(shorts)
    ctx: dict[str, Any] = {"handles": job, "running": {"handles"}}
    assert await worker.check_youtube_handles(ctx) == {}  # one is running here already
    assert channel_calls(shorts) == 0
    ctx["running"] = set()
    assert await worker.check_youtube_handles(ctx) == {"checked": 1}
    assert (channel_calls(shorts), ctx["running"]) == (1, set())


async def youtube_creators(committed: SM, clock: Clock, prefix: str, n: int) -> None:
    """n YouTube creators of a new organization, each known by its channel id."""
    seeded = await seed(committed, [], clock.now)
    async with committed() as session:
        session.add_all(
            Creator(
                organization_id=seeded.organization_id,
                platform=Platform.YOUTUBE,
                handle=f"{prefix}_{i}",
                platform_user_id=channel_id(f"{prefix}_{i}"),
            )
            for i in range(n)
        )
        await session.commit()
