"""A post is paid once, through one door (issue 22, items 2 and 16): every way to `paid` refuses
a post with an open hold or one in another open payout batch, because the transition writer
applies the lifecycle's guard table itself; and the money rules at their boundaries (a
campaign's own minimum on hold clearing, a restore after the deadline)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth import Principal
from app.domain.enums import PostStatus, Role
from app.domain.errors import DomainError
from app.domain.policy import Policy
from app.domain.transitions import Transition
from app.models import ApiKey, PayoutLine, Post, PostEvent
from app.repositories import holds
from app.repositories import transitions as writer
from app.schemas.payouts import PayoutCreate
from app.services import payouts as payout_service
from app.services import posts as post_service
from app.settings import Settings
from app.workers import deadline_sweep as lifecycle_sweep
from tests import factories as f
from tests.conftest import Org, committed_admin

SM = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _url(handle: str, n: int) -> str:
    return f"https://www.tiktok.com/@{handle}/video/{7_310_000_000_000_000_000 + n}"


async def _posts(
    client: httpx.AsyncClient, count: int, **campaign: Any
) -> tuple[dict[str, Any], list[str]]:
    c = await f.campaign(client, **campaign)
    t = await f.tier(client, c["id"], cpm="4.50")
    ana = await f.creator(client, "ana")
    await f.member(client, c["id"], ana["id"], t["id"])
    ids = [(await f.post(client, c["id"], url=_url("ana", n)))["id"] for n in range(count)]
    return c, ids


async def _set(session: AsyncSession, post_id: str, **values: Any) -> None:
    await session.execute(update(Post).where(Post.id == uuid.UUID(post_id)).values(**values))
    await session.commit()


async def _finalize(session: AsyncSession, post_id: str, views: int = 2_000) -> None:
    """The state the lifecycle leaves a finalized post in (tested elsewhere)."""
    await _set(
        session,
        post_id,
        status=PostStatus.FINALIZED,
        views=views,
        locked_views=views,
        earnings=Decimal(views) * Decimal("0.0045"),
        finalized_at=T0,
        published_at=T0 - timedelta(days=7),
    )


async def _hold(session: AsyncSession, org: Org, post_id: str, code: str = "view_spike") -> None:
    """A hold raised after the fact, as `hold_on_flags` raises one on a finalized post."""
    await holds.raise_many(
        session,
        [holds.NewHold(uuid.UUID(post_id), org.id, code, "escalated by hold_on_flags")],
        datetime.now(UTC),
    )
    await session.commit()


async def _paid_events(session: AsyncSession) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(PostEvent).where(PostEvent.to_status == "paid")
        )
        or 0
    )


async def test_a_post_in_an_open_payout_is_paid_by_that_payout_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, (batched, alone) = await _posts(client, 2)
    await _finalize(session, batched)
    await _finalize(session, alone)
    batch = await f.ok(await client.post("/v1/payouts", json={"post_ids": [batched]}), 201)

    refused = await client.post(f"/v1/posts/{batched}/mark-paid", json={"payout_reference": "X"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "post_in_open_payout"
    assert refused.json()["payout_id"] == batch["id"]
    assert batch["id"] in refused.json()["detail"]
    post = await f.ok(await client.get(f"/v1/posts/{batched}"))
    assert (post["status"], post["paid_at"]) == ("finalized", None)
    assert await _paid_events(session) == 0

    # A post in no batch is still paid on its own; the batch pays its own post.
    await f.ok(await client.post(f"/v1/posts/{alone}/mark-paid", json={"payout_reference": "A"}))
    paid = await f.ok(
        await client.post(f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "B"})
    )
    assert paid["status"] == "paid"
    post = await f.ok(await client.get(f"/v1/posts/{batched}"))
    assert (post["status"], post["payout_reference"]) == ("paid", "B")
    assert await _paid_events(session) == 2
    # Paid once: a second single mark-paid under another reference is refused.
    again = await client.post(f"/v1/posts/{batched}/mark-paid", json={"payout_reference": "X"})
    assert (again.status_code, again.json()["code"]) == (409, "post_already_paid")


async def test_a_cancelled_payout_releases_its_post_to_the_single_door(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, (post_id,) = await _posts(client, 1)
    await _finalize(session, post_id)
    batch = await f.ok(await client.post("/v1/payouts", json={"post_ids": [post_id]}), 201)
    await f.ok(await client.post(f"/v1/payouts/{batch['id']}/cancel"))
    paid = await f.ok(await client.post(f"/v1/posts/{post_id}/mark-paid"))
    assert paid["status"] == "paid"


async def test_a_post_with_an_open_hold_is_not_paid_on_its_own(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    _, (post_id,) = await _posts(client, 1)
    await _finalize(session, post_id)
    await _hold(session, org, post_id)

    refused = await client.post(f"/v1/posts/{post_id}/mark-paid", json={"payout_reference": "X"})
    assert (refused.status_code, refused.json()["code"]) == (409, "post_has_open_holds")
    assert (await f.ok(await client.get(f"/v1/posts/{post_id}")))["status"] == "finalized"
    assert await _paid_events(session) == 0

    await f.ok(
        await client.post(
            f"/v1/posts/{post_id}/holds/view_spike/clear", json={"reason": "checked by hand"}
        )
    )
    paid = await f.ok(await client.post(f"/v1/posts/{post_id}/mark-paid"))
    assert paid["status"] == "paid"


async def test_a_batch_whose_post_gained_a_hold_after_batching_pays_nothing(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    """Without any check of its own in the payout service: the writer's guard refuses the
    held post, the batch answers 409 naming it, and the post paid before it is rolled back."""
    _, ids = await _posts(client, 3)
    for post_id in ids:
        await _finalize(session, post_id)
    batch = await f.ok(await client.post("/v1/payouts", json={"post_ids": ids}), 201)
    late = sorted(ids)[1]  # the writer pays in id order: one post lands before it
    await _hold(session, org, late)

    refused = await client.post(
        f"/v1/payouts/{batch['id']}/mark-paid", json={"payout_reference": "WIRE-1"}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "payout_posts_not_payable"
    assert refused.json()["post_ids"] == [late]
    for post_id in ids:
        post = await f.ok(await client.get(f"/v1/posts/{post_id}"))
        assert (post["status"], post["paid_at"]) == ("finalized", None)
    assert (await f.ok(await client.get(f"/v1/payouts/{batch['id']}")))["status"] == "open"
    assert await _paid_events(session) == 0


async def test_the_writer_guards_a_new_door_to_paid_by_itself(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    """A future caller that brings no guard of its own (no expect, no check) still cannot pay
    a held post or one in an open batch, and the writer says why."""
    _, (held, batched, free) = await _posts(client, 3)
    for post_id in (held, batched, free):
        await _finalize(session, post_id)
    await _hold(session, org, held)
    batch = await f.ok(await client.post("/v1/payouts", json={"post_ids": [batched]}), 201)

    def paying(post_id: str, payout: str | None = None) -> Transition:
        return Transition(
            post_id=uuid.UUID(post_id),
            from_status=PostStatus.FINALIZED,
            to_status=PostStatus.PAID,
            code="new_door",
            payout_id=None if payout is None else uuid.UUID(payout),
        )

    now = datetime.now(UTC)
    changes = [paying(held), paying(batched), paying(batched, str(uuid.uuid4()))]
    assert await writer.apply(session, changes, now) == []
    why = await writer.refusals(session, changes[:2])
    assert {str(k): v.code for k, v in why.items()} == {
        held: "post_has_open_holds",
        batched: "post_in_open_payout",
    }
    assert why[uuid.UUID(batched)].extra == {"payout_id": uuid.UUID(batch["id"])}
    # A change the lifecycle does not have is never applied.
    backwards = Transition(uuid.UUID(free), PostStatus.FINALIZED, PostStatus.TRACKING, "x")
    assert await writer.apply(session, [backwards], now) == []
    landed = await writer.apply(session, [paying(free), paying(batched, batch["id"])], now)
    assert sorted(str(item.transition.post_id) for item in landed) == sorted([free, batched])


async def test_the_writer_writes_one_event_per_post_it_changed_with_that_posts_own_fields(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    """One statement per shape of change writes the posts and their events: a batch of
    several posts of one shape gets exactly one event each, carrying its own code, reason and
    evidence; a post the guard refused gets none."""
    _, ids = await _posts(client, 4)
    for post_id in ids:
        await _finalize(session, post_id)
    await _hold(session, org, ids[3])  # refused by the guard: no event
    now = datetime.now(UTC)
    changes = [
        Transition(
            uuid.UUID(post_id),
            PostStatus.FINALIZED,
            PostStatus.PAID,
            f"code_{n}",
            f"reason {n}",
            None,
            {"paid_at": now},
            evidence={"n": n},
        )
        for n, post_id in enumerate(ids)
    ]
    landed = await writer.apply(session, changes, now)
    assert sorted(str(item.transition.post_id) for item in landed) == sorted(ids[:3])
    rows = (
        await session.execute(
            select(PostEvent.post_id, PostEvent.code, PostEvent.reason, PostEvent.evidence).where(
                PostEvent.to_status == "paid"
            )
        )
    ).all()
    assert sorted((str(r.post_id), r.code, r.reason, r.evidence) for r in rows) == sorted(
        (post_id, f"code_{n}", f"reason {n}", {"n": n}) for n, post_id in enumerate(ids[:3])
    )


async def test_the_writer_never_decides_a_post_with_an_open_hold(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    """A decision brought without the open-hold count it was made on (no `expect`) still
    does not finalize, or leave `held`, a post that has an open hold; a post without one
    does not go to `held`."""
    _, (tracking, held, clear) = await _posts(client, 3)
    await _set(session, held, status=PostStatus.HELD, locked_views=2_000)
    for post_id in (tracking, held):
        await _hold(session, org, post_id)
    now = datetime.now(UTC)
    values = {"locked_views": 2_000, "earnings": Decimal("9.00"), "finalized_at": now}
    changes = [
        Transition(
            uuid.UUID(tracking), PostStatus.TRACKING, PostStatus.FINALIZED, "x", None, None, values
        ),
        Transition(uuid.UUID(held), PostStatus.HELD, PostStatus.FINALIZED, "x", None, None, values),
        Transition(
            uuid.UUID(clear),
            PostStatus.TRACKING,
            PostStatus.HELD,
            "x",
            None,
            None,
            {"locked_views": 2_000},
        ),
    ]
    assert await writer.apply(session, changes, now) == []
    why = await writer.refusals(session, changes)
    assert {str(k): v.code for k, v in why.items()} == {
        tracking: "post_has_open_holds",
        held: "post_has_open_holds",
        clear: "post_has_no_open_hold",
    }
    for post_id, status in ((tracking, "tracking"), (held, "held"), (clear, "tracking")):
        assert (await f.ok(await client.get(f"/v1/posts/{post_id}")))["status"] == status


async def test_clearing_a_hold_decides_with_the_campaigns_own_minimum(
    client: httpx.AsyncClient, session: AsyncSession, org: Org
) -> None:
    """Locked views between the campaign's minimum and the default 1,000 are finalized;
    above the default but below a higher campaign minimum, rejected."""
    _, (below_default,) = await _posts(client, 1, min_views=100)
    high = await f.campaign(client, min_views=5_000)
    t = await f.tier(client, high["id"], cpm="4.50")
    bo = await f.creator(client, "bo")
    await f.member(client, high["id"], bo["id"], t["id"])
    above_default = (await f.post(client, high["id"], url=_url("bo", 99)))["id"]
    for post_id, views in ((below_default, 500), (above_default, 2_000)):
        await _set(
            session,
            post_id,
            status=PostStatus.HELD,
            views=views,
            locked_views=views,
            locked_observed_at=T0,
            published_at=T0 - timedelta(days=7),
        )
        await _hold(session, org, post_id, "author_mismatch")

    cleared = {}
    for post_id in (below_default, above_default):
        cleared[post_id] = await f.ok(
            await client.post(
                f"/v1/posts/{post_id}/holds/author_mismatch/clear", json={"reason": "checked"}
            )
        )
    assert (cleared[below_default]["status"], cleared[below_default]["earnings"]) == (
        "finalized",
        "2.25",
    )
    assert cleared[above_default]["status"] == "rejected"
    assert "5,000" in cleared[above_default]["rejection_reason"]


async def test_a_restore_after_the_deadline_waits_for_fresh_stats(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Auto-rejected on stats fetched after its deadline, then restored: the sweep does not
    decide it again on those old stats, it makes the post due and waits for a fetch made
    after the restore."""
    _, (post_id,) = await _posts(client, 1, finalize_after_days=3)
    now = datetime.now(UTC)
    await _set(
        session,
        post_id,
        status=PostStatus.REJECTED,
        rejection_code="below_min_views",
        rejection_reason="10 views at the deadline; at least 1,000 are needed.",
        views=10,
        published_at=now - timedelta(days=6),  # deadline (3 days): 3 days ago
        last_refreshed_at=now - timedelta(days=2),  # fetched after it
        last_attempt_at=now - timedelta(days=2),
        next_refresh_at=None,
    )
    restored = await f.ok(
        await client.post(f"/v1/posts/{post_id}/restore", json={"reason": "views recounted"})
    )
    assert restored["status"] == "tracking"

    policy = Policy.from_settings(settings)
    decided = await lifecycle_sweep.sweep(session, datetime.now(UTC), policy, timedelta(hours=6))
    assert decided == 0
    post = await session.get(Post, uuid.UUID(post_id), populate_existing=True)
    assert post is not None
    assert post.status is PostStatus.TRACKING
    assert post.next_refresh_at is not None
    assert post.next_refresh_at <= datetime.now(UTC)

    # Fetched after the restore: now it is decided, its deadline the restore's.
    restored_at = post.decide_after
    assert restored_at is not None
    fetched = datetime.now(UTC)
    await _set(session, post_id, views=5_000, last_refreshed_at=fetched, last_attempt_at=fetched)
    assert await lifecycle_sweep.sweep(session, fetched, policy, timedelta(hours=6)) == 1
    evidence = await session.scalar(
        select(PostEvent.evidence).where(
            PostEvent.post_id == uuid.UUID(post_id), PostEvent.code == "auto_finalized"
        )
    )
    assert evidence is not None
    assert evidence["rules"]["finalize_after_days"] == 3
    assert datetime.fromisoformat(evidence["rules"]["deadline"]) == restored_at
    assert evidence["timing"]["late"] is False


@pytest.mark.parametrize("first", ["single", "batch"])
async def test_a_batch_and_a_single_mark_paid_at_once_pay_the_post_once(
    settings: Settings, engine: AsyncEngine, committed: SM, first: str
) -> None:
    """One transaction is still open when the other starts: the second waits for the first's
    lock on the post, then sees what it did. Single first: the batch leaves the paid post
    out; batch first: the single mark-paid is refused, naming the batch."""
    async with committed_admin(settings, engine, committed, "Race") as admin:
        _, (post_id,) = await _posts(admin, 1)
    pid = uuid.UUID(post_id)
    async with committed() as session:
        await _finalize(session, post_id)
        org_id = await session.scalar(select(Post.organization_id).where(Post.id == pid))
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.organization_id == org_id))
    assert org_id is not None
    assert key_id is not None
    who = Principal(key_id, org_id, Role.ADMIN)

    async def single(session: AsyncSession) -> str:
        try:
            await post_service.mark_paid(session, who, pid, "SINGLE")
        except DomainError as exc:
            return exc.code
        return "paid"

    async def batch(session: AsyncSession) -> str:
        try:
            await payout_service.create(session, settings, who, PayoutCreate(post_ids=[pid]))
        except DomainError as exc:
            return exc.code
        return "batched"

    one, two = (single, batch) if first == "single" else (batch, single)
    async with committed() as a, committed() as b:
        done_first = await one(a)  # its transaction stays open
        waiting = asyncio.create_task(two(b))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second did not wait for the first's lock"
        await a.commit()
        done_second = await asyncio.wait_for(waiting, 10)
        await (b.commit() if done_second in ("paid", "batched") else b.rollback())
    if first == "single":
        assert (done_first, done_second) == ("paid", "posts_not_ready")
    else:
        assert (done_first, done_second) == ("batched", "post_in_open_payout")
    async with committed() as session:
        post = await session.get(Post, pid)
        assert post is not None
        lines = await session.scalar(
            select(func.count()).select_from(PayoutLine).where(PayoutLine.post_id == pid)
        )
    assert (post.status, lines) == (
        (PostStatus.PAID, 0) if first == "single" else (PostStatus.FINALIZED, 1)
    )


def test_the_writer_s_bound_names_are_no_column_s_name() -> None:
    """The writer binds its arrays and its time at execution, and SQLAlchemy reads a bound
    name that matches a column of the statement's tables as a value for that column: a
    column named so one day would be written silently."""
    shape = (PostStatus.TRACKING, PostStatus.FINALIZED, ("earnings",), ("cpm_tier_id",))
    names = set(writer._statement(shape).compile().params)
    assert {"now", "u_earnings", "u_was_cpm_tier_id"} <= names
    columns = {c.name for table in (Post.__table__, PostEvent.__table__) for c in table.c}
    assert not names & columns
