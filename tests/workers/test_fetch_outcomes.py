"""Every fetch outcome on the post, and what a post that never answered is decided as."""

from collections.abc import Callable
from datetime import timedelta

import httpx

from app.platforms.sandbox import (
    Magic,
    instagram_shortcode,
    tiktok_id,
)
from app.settings import Settings
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers.refresher import Refresher
from tests import factories as f
from tests.engine_kit import Clock
from tests.workers.conftest import SM, Refresh, _campaign, _get, _member, _url


async def test_fetch_outcomes_are_on_the_post_skips_included(
    admin: httpx.AsyncClient, refresh: Refresh, clock: Clock
) -> None:
    cid, tid = await _campaign(admin)
    insta = await f.ok(
        await admin.post("/v1/creators", json={"platform": "instagram", "handle": "sandbox.user"}),
        201,
    )
    await f.member(admin, cid, insta["id"], tid)
    carousel = await f.post(
        admin,
        cid,
        url=f"https://www.instagram.com/p/{instagram_shortcode(Magic.CAROUSEL, 3)}/",
        creator_id=insta["id"],
    )
    await _member(admin, cid, tid, "someone")
    gone = await f.post(admin, cid, url=_url("someone", tiktok_id(Magic.DELETED, 3)))
    withheld = await f.post(admin, cid, url=_url("someone", tiktok_id(Magic.WITHHELD, 3)))
    await refresh()
    outcomes = {
        name: await _get(admin, f"/v1/posts/{p['id']}")
        for name, p in {"carousel": carousel, "gone": gone, "withheld": withheld}.items()
    }
    assert {n: p["last_fetch_outcome"] for n, p in outcomes.items()} == {
        "carousel": "skipped_carousel",
        "gone": "not_found",
        "withheld": "withheld",
    }
    assert all(p["last_fetch_at"] is not None for p in outcomes.values())
    assert outcomes["carousel"]["last_error"] is None  # a skip is not an error
    # Each outcome changes the post as the API shows it (what the fetch came to, and when),
    # so it moves the post's `updated_at` with it: a change feed reader (sort=updated_at)
    # who read the post as it was claimed gets it again with its outcome, a skip included.
    clock.advance(days=1)  # the worker's clock, ahead of the database's
    await refresh()
    for name, p in {"carousel": carousel, "gone": gone, "withheld": withheld}.items():
        now = await _get(admin, f"/v1/posts/{p['id']}")
        assert now["updated_at"] >= now["last_fetch_at"], name


async def test_a_post_that_never_answered_is_rejected_as_unavailable_not_for_its_views(
    admin: httpx.AsyncClient,
    refresh: Refresh,
    committed: SM,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    fast: Settings,
) -> None:
    cid, tid = await _campaign(admin, finalize_after_days=0)
    await _member(admin, cid, tid, "someone")
    post = await f.post(admin, cid, url=_url("someone", tiktok_id(Magic.DELETED, 4)))
    await refresh()
    clock.advance(hours=fast.decision_grace_hours + 1)
    async with committed() as session:
        await lifecycle_sweep.sweep(
            session,
            clock.now,
            make_refresher().policy,
            timedelta(hours=fast.decision_grace_hours),
        )
        await session.commit()
    rejected = await _get(admin, f"/v1/posts/{post['id']}")
    assert (rejected["status"], rejected["rejection_code"]) == ("rejected", "unavailable")
    assert "never answered" in rejected["rejection_reason"]
    assert "0 views" not in rejected["rejection_reason"]
