"""Deleting a campaign races tier assignments to its posts and the deadline sweep without a
deadlock: the delete locks the campaign, then its posts in id order, then (by the cascade)
its tiers, the order the others take too."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.domain.enums import Platform, PostStatus, Role
from app.domain.errors import DomainError
from app.domain.policy import Policy
from app.domain.transitions import Transition
from app.models import Post
from app.repositories import transitions as transitions_repo
from app.services import campaigns as campaign_service
from app.services import posts as post_service
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers.refresher import Refresher
from tests.engine_kit import Clock, seed

SM = async_sessionmaker[AsyncSession]


async def _race_once(sm: SM, policy: Policy, clock: Clock, round_: int) -> str:
    ids = [str(40_000 + round_ * 100 + i) for i in range(12)]
    s = await seed(sm, [(Platform.TIKTOK, v) for v in ids], clock.now, cpm=None)
    tier = uuid.uuid4()
    async with sm() as session:
        await session.execute(
            text(
                "INSERT INTO cpm_tiers (id, organization_id, campaign_id, name, cpm)"
                " VALUES (:id, :org, :campaign, 'Race', 3)"
            ),
            {"id": tier, "org": s.organization_id, "campaign": s.campaign_id},
        )
        # Half are past their deadline with fresh stats: the sweep decides them.
        await session.execute(
            update(Post)
            .where(Post.platform_post_id.in_(ids[:6]))
            .values(
                published_at=clock.now - timedelta(days=8), views=5000, last_refreshed_at=clock.now
            )
        )
        await session.commit()
    admin = Principal(uuid.uuid4(), s.organization_id, Role.ADMIN)

    async def assign(post_id: uuid.UUID) -> str:
        async with sm() as session:
            try:
                await post_service.assign_tier(session, admin, post_id, tier)
                await session.commit()
            except DomainError as exc:
                return exc.code  # the post or its tier is gone, or the post is decided
        return "assigned"

    async def delete() -> str:
        async with sm() as session:
            try:
                await campaign_service.delete(session, s.organization_id, s.campaign_id)
                await session.commit()
            except DomainError as exc:
                return exc.code  # the sweep decided a post first
        return "deleted"

    async def sweep() -> str:
        async with sm() as session:
            await lifecycle_sweep.sweep(session, clock.now, policy, timedelta(hours=24))
            await session.commit()
        return "swept"

    outcomes = await asyncio.gather(delete(), sweep(), *(assign(p) for p in s.posts.values()))
    return outcomes[0]


async def test_deleting_a_campaign_never_deadlocks_with_tier_assignments_or_the_sweep(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    policy = make_refresher().policy
    for round_ in range(5):
        try:
            deleted = await _race_once(committed, policy, clock, round_)
        except DBAPIError as exc:  # a deadlock (40P01) would surface here
            raise AssertionError(f"round {round_}: {exc.orig}") from None
        assert deleted in ("deleted", "campaign_has_decided_posts")


async def test_a_decision_of_several_posts_takes_their_locks_in_id_order_first(
    committed: SM, clock: Clock
) -> None:
    """Deciding several posts whose changes differ in shape (one UPDATE each) locks them all
    in id order before changing any: while another transaction holds the lowest post (as a
    campaign delete, locking in id order, does), the higher one stays free. Locked shape by
    shape, it would hold the higher post and wait for the lower: the delete's deadlock."""
    s = await seed(committed, [(Platform.TIKTOK, str(41_000 + i)) for i in range(2)], clock.now)
    low, high = sorted(s.posts.values())
    changes = [  # the higher post's shape first, as a sweep's groups may come
        Transition(high, PostStatus.TRACKING, PostStatus.REJECTED, "a", values={"views": 1}),
        Transition(low, PostStatus.TRACKING, PostStatus.REJECTED, "b"),
    ]
    async with committed() as holder, committed() as decider, committed() as probe:
        await holder.execute(select(Post.id).where(Post.id == low).with_for_update())
        pid = await decider.scalar(text("SELECT pg_backend_pid()"))
        deciding = asyncio.create_task(transitions_repo.apply(decider, changes, clock.now))
        waits = text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid")
        for _ in range(250):
            if await probe.scalar(waits, {"pid": pid}) == "Lock":
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the decision never waited for the held post")
        try:
            nowait = select(Post.id).where(Post.id == high).with_for_update(nowait=True)
            free = (await probe.execute(nowait)).scalar_one() == high
        except DBAPIError:  # 55P03: the decision holds it while it waits for the lower one
            free = False
        await probe.rollback()
        await holder.rollback()
        landed = await deciding
        await decider.commit()
    assert free, "the decision locked the higher post while it waited for the lower one"
    assert sorted(item.transition.post_id for item in landed) == [low, high]
