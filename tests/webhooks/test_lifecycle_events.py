"""Every lifecycle change reaches a registered endpoint as a signed webhook, written to the
outbox in the same transaction as the change: a campaign run through the API and the
refresher, delivered to a receiver that verifies each delivery with `standardwebhooks`."""

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import update

from app.domain.enums import Platform
from app.models import Post
from app.platforms.sandbox import OTHER_AUTHOR_HANDLE, Magic, rename_handles, tiktok_id
from app.platforms.sandbox.videos import video_at
from app.workers.refresher import Refresher
from tests import factories as f
from tests.engine_kit import Clock
from tests.webhooks.test_delivery import Kit, kit  # noqa: F401  (the fixture)


async def test_a_campaign_run_sends_every_lifecycle_event(
    kit: Kit,  # noqa: F811
    make_refresher: Callable[[], Refresher],
    clock: Clock,
) -> None:
    await kit.endpoint(description="integrator")
    api = kit.api
    campaign = await f.campaign(api, finalize_after_days=0)
    tier = await f.tier(api, campaign["id"])
    creator = await f.creator(api, "brand_new_guy")
    await f.member(api, campaign["id"], creator["id"], tier["id"])
    url = f"https://www.tiktok.com/@brand_new_guy/video/{tiktok_id(Magic.OTHER_AUTHOR, 5)}"
    post = await f.post(api, campaign["id"], url=url)
    renamer, _ = rename_handles(5)
    other = await f.creator(api, renamer)
    await f.member(api, campaign["id"], other["id"], tier["id"])
    await f.post(
        api,
        campaign["id"],
        url=f"https://www.tiktok.com/@{renamer}/video/{tiktok_id(Magic.RENAMES, 5)}",
    )

    async def refresh() -> None:
        async with kit.sessions() as session:
            await session.execute(update(Post).values(next_refresh_at=clock.now))
            await session.commit()
        await make_refresher().refresh_due(Platform.TIKTOK)

    await refresh()  # held: dev.daily posted it
    cleared = await f.ok(
        await api.post(
            f"/v1/posts/{post['id']}/holds/author_mismatch/clear",
            json={"reason": "the creator's second account"},
        )
    )
    assert cleared["status"] == "finalized"
    await f.ok(await api.post(f"/v1/posts/{post['id']}/mark-paid", json={}))
    # The renaming account renames a day on; its next fetch syncs the creator.
    clock.advance(days=2)
    await refresh()

    kit.clock.now = clock.now + timedelta(minutes=1)  # every event is due by then
    await kit.deliverer.sweep()
    received = kit.receiver.received
    assert received
    assert all(r.verified_by_any for r in received)
    mine = [
        (r.payload["type"], r.payload["data"].get("status"))
        for r in received
        if r.payload["data"].get("id") == post["id"]
    ]
    # Order is not guaranteed (documented): compare as sets of (type, status then).
    assert sorted(mine) == sorted(
        [
            ("post.created", "tracking"),
            ("post.held", "held"),
            ("post.hold_cleared", "held"),
            ("post.finalized", "finalized"),
            ("post.paid", "paid"),
        ]
    )
    held = next(r.payload["data"] for r in received if r.payload["type"] == "post.held")
    assert [h["code"] for h in held["holds"]] == ["author_mismatch"]
    assert held["holds"][0]["evidence"]["found"]["handle"] == OTHER_AUTHOR_HANDLE
    paid = next(r.payload["data"] for r in received if r.payload["type"] == "post.paid")
    assert paid["earnings"] == cleared["earnings"]  # money stays a string
    types = {r.payload["type"] for r in received}
    assert {"creator.renamed", "refresh_run.finished"} <= types
    renamed = next(r.payload["data"] for r in received if r.payload["type"] == "creator.renamed")
    assert (renamed["previous_handle"], renamed["handle"]) == rename_handles(5)


async def test_a_flag_raised_and_resolved_is_sent_as_webhooks(
    kit: Kit,  # noqa: F811
    make_refresher: Callable[[], Refresher],
    clock: Clock,
) -> None:
    await kit.endpoint(description="integrity")
    api = kit.api
    campaign = await f.campaign(api)
    tier = await f.tier(api, campaign["id"])
    botted = tiktok_id(Magic.BOTTED, 7)  # 50,000 views, almost no likes
    handle = video_at(Platform.TIKTOK, botted, clock.now, clock.now).handle
    creator = await f.creator(api, handle)
    await f.member(api, campaign["id"], creator["id"], tier["id"])
    url = f"https://www.tiktok.com/@{handle}/video/{botted}"
    post = await f.post(api, campaign["id"], url=url)
    async with kit.sessions() as session:
        await session.execute(update(Post).values(next_refresh_at=clock.now))
        await session.commit()
    await make_refresher().refresh_due(Platform.TIKTOK)
    await f.ok(
        await api.post(
            f"/v1/posts/{post['id']}/flags/low_engagement/resolve",
            json={"note": "Reviewed: a giveaway video, comments were off."},
        )
    )

    kit.clock.now = clock.now + timedelta(minutes=1)
    await kit.deliverer.sweep()
    received = [r for r in kit.receiver.received if r.payload["data"].get("id") == post["id"]]
    assert all(r.verified_by_any for r in received)
    by_type = {r.payload["type"]: r.payload["data"] for r in received}
    assert by_type["post.flagged"]["flags"] == ["low_engagement"]
    assert by_type["post.flag_resolved"]["flags"] == []
