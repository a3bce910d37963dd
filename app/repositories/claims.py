"""Claiming due posts. PostgreSQL decides what is due; a claim takes a batch under a lease
(`FOR UPDATE SKIP LOCKED`, then a lease time on the rows), so concurrent workers never take
the same post, and a crashed worker's posts come back when its lease runs out. What "due",
"inside the refresh window" and "near its deadline" mean comes from app/domain."""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import policy_sql, schedule
from app.domain.enums import Platform
from app.domain.policy import Policy
from app.domain.refresh import DuePost
from app.models import Campaign, CpmTier, Creator, Organization, Post, RefreshRun

_UUIDS = ARRAY(UUID(as_uuid=True))


class Branch(StrEnum):
    """The claim's index-driven branches, in the order they are served (each a
    `schedule.Freshness` class): the posts near their deadline, then the active posts most
    overdue first, then the settled posts most overdue first."""

    URGENT = "urgent"
    ACTIVE = "active"
    SETTLED = "settled"


def _conditions(
    platform: Platform, now: datetime, policy: Policy, branch: Branch
) -> list[ColumnElement[bool]]:
    """What makes a post due in one branch of the claim (the urgent branch's read the
    post's campaign, joined by the caller)."""
    conditions = [
        Post.platform == platform,
        schedule.is_due_sql(Post.status, Post.next_refresh_at, Post.lease_expires_at, now),
        schedule.in_window_sql(Post.aged_from, now, policy.cadence.window),
    ]
    if branch is Branch.URGENT:
        shortest = select(func.min(Campaign.finalize_after_days)).correlate(None).scalar_subquery()
        deadline = policy_sql.deadline_sql(
            policy, Post.aged_from, Campaign.finalize_after_days, Post.decide_after
        )
        conditions += [
            schedule.is_urgent_sql(Post.status, deadline, now, policy.cadence),
            # Implied by the line above (no campaign decides sooner than the shortest
            # finalize-after days); it bounds the scan by age.
            Post.aged_from <= policy_sql.urgent_aged_from_bound_sql(policy, now, shortest),
        ]
    elif branch is Branch.ACTIVE:
        conditions.append(schedule.is_active_sql(Post.status))
    else:
        conditions.append(schedule.is_settled_sql(Post.status))
    return conditions


async def urgent_waiting(
    session: AsyncSession, platform: Platform, now: datetime, policy: Policy
) -> bool:
    """Posts of the platform near their deadline are due and not being fetched: work that
    account listings (watched accounts) yield to."""
    stmt = (
        select(Post.id)
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(*_conditions(platform, now, policy, Branch.URGENT))
        .limit(1)
    )
    return (await session.execute(stmt)).first() is not None


def _due(
    platform: Platform,
    now: datetime,
    policy: Policy,
    limit: int | ColumnElement[int],
    *,
    branch: Branch,
    exclude: Select[tuple[uuid.UUID]] | None = None,
) -> Select[uuid.UUID, bool]:
    """One branch of the claim, fair across organizations: each organization offers its most
    overdue posts of the branch (an index range per organization:
    posts_active_due_idx / posts_settled_due_idx lead with organization_id), and the claim
    takes them in turns, every organization's first before anyone's second, so an
    organization with 100,000 due posts cannot hold back another's ten. One ORDER BY over
    all due posts would read and sort every one of them on every claim."""
    conditions = _conditions(platform, now, policy, branch)
    offered = select(Post.id, Post.next_refresh_at, Post.refresh_run_id.is_(None).label("runless"))
    if branch is Branch.URGENT:
        offered = offered.join(Campaign, Campaign.id == Post.campaign_id)
    if exclude is not None:
        conditions.append(Post.id.not_in(exclude))
    orgs = select(Organization.id.label("org")).subquery(f"{branch}_orgs")
    per_org = (
        offered.where(*conditions, Post.organization_id == orgs.c.org)
        .order_by(Post.next_refresh_at)
        .limit(limit)
        .lateral(f"{branch}_offered")
    )
    turn = func.row_number().over(partition_by=orgs.c.org, order_by=per_org.c.next_refresh_at)
    offers = (
        select(per_org.c.id, per_org.c.next_refresh_at, turn.label("turn"))
        .select_from(orgs)
        .join(per_org, true())
        .subquery(f"{branch}_turns")
    )
    chosen = select(offers.c.id).order_by(offers.c.turn, offers.c.next_refresh_at).limit(limit)
    # Lock what was chosen, skipping rows another worker holds; the conditions again, since
    # the choice was read without locks.
    locked = select(Post.id, Post.refresh_run_id.is_(None).label("runless"))
    if branch is Branch.URGENT:
        locked = locked.join(Campaign, Campaign.id == Post.campaign_id)
    return locked.where(Post.id.in_(chosen), *conditions).with_for_update(of=Post, skip_locked=True)


async def claim(
    session: AsyncSession,
    platform: Platform,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    policy: Policy,
    runs: Mapping[uuid.UUID, uuid.UUID] | None = None,
    settled: bool = True,
) -> list[DuePost]:
    """Claim up to `limit` due posts, those near their deadline first. A post in no refresh
    run joins the run `runs` names for its organization (counted in that run's `queued`);
    one whose organization is not there stays without a run. `settled=False` leaves finalized
    and paid posts out (a YouTube lane low on its daily quota keeps it for posts that can
    still change money)."""
    runs = runs or {}
    # Deadline first, then active by how overdue, then settled: each branch takes what the
    # ones before it left of the limit (urgent posts are active too, so that branch skips
    # them; settled posts are never urgent).
    urgent = _due(platform, now, policy, limit, branch=Branch.URGENT).cte("urgent")
    urgent_taken = select(func.count()).select_from(urgent).scalar_subquery()
    active = _due(
        platform,
        now,
        policy,
        literal(limit) - urgent_taken,
        branch=Branch.ACTIVE,
        exclude=select(urgent.c.id),
    ).cte("active")
    active_taken = select(func.count()).select_from(active).scalar_subquery()
    settled_limit = literal(limit) - urgent_taken - active_taken if settled else literal(0)
    settled_posts = _due(platform, now, policy, settled_limit, branch=Branch.SETTLED).cte("settled")
    # `urgency`: the branch's place in the fetch order (see the ORDER BY at the end).
    due = union_all(
        select(urgent.c.id, urgent.c.runless, literal(0).label("urgency")),
        select(active.c.id, active.c.runless, literal(1).label("urgency")),
        select(settled_posts.c.id, settled_posts.c.runless, literal(2).label("urgency")),
    ).cte("due")
    run_of = (
        func.unnest(
            bindparam("run_orgs", list(runs), type_=_UUIDS),
            bindparam("run_ids", list(runs.values()), type_=_UUIDS),
        )
        .table_valued(column("org"), column("run"))
        .render_derived(name="r", with_types=False)
    )
    claimed = (
        update(Post)
        .where(Post.id == due.c.id)
        .values(
            lease_expires_at=now + lease,
            refresh_run_id=func.coalesce(
                Post.refresh_run_id,
                # Only a run still open: a finished run never reopens (one
                # refresh_run.finished per run); run_progress.attach starts a new one.
                select(run_of.c.run)
                .join(RefreshRun, RefreshRun.id == run_of.c.run)
                .where(run_of.c.org == Post.organization_id, RefreshRun.finished_at.is_(None))
                .scalar_subquery(),
            ),
        )
        .returning(*Post.__table__.c, due.c.runless, due.c.urgency)
        .cte("claimed")
    )
    # Posts that joined a run are counted in it, runs in id order (see repositories/runs.py).
    joining = (
        select(claimed.c.refresh_run_id.label("id"), func.count().label("n"))
        .where(claimed.c.runless, claimed.c.refresh_run_id.is_not(None))
        .group_by(claimed.c.refresh_run_id)
        .order_by(claimed.c.refresh_run_id)
        .subquery("joining")
    )
    joined = (
        update(RefreshRun)
        .where(RefreshRun.id == joining.c.id)
        .values(queued=RefreshRun.queued + joining.c.n)
        .cte("joined")
    )
    stmt = _due_posts(claimed).add_cte(joined)
    return [DuePost(**row._mapping) for row in await session.execute(stmt)]


def _due_posts(claimed: CTE) -> Select[Any]:
    """The claimed posts (a CTE of posts' columns with `urgency`) as the engine needs them."""
    return (
        select(
            claimed.c.id,
            claimed.c.organization_id,
            claimed.c.campaign_id,
            claimed.c.creator_id,
            claimed.c.platform,
            claimed.c.platform_post_id,
            Creator.handle,
            claimed.c.status,
            claimed.c.published_at,
            claimed.c.created_at,
            claimed.c.views,
            claimed.c.cpm_tier_id,
            CpmTier.cpm,
            CpmTier.cap,
            CpmTier.name.label("tier_name"),
            Campaign.min_views,
            Campaign.finalize_after_days,
            Campaign.starts_on,
            Campaign.ends_on,
            Campaign.hold_on_flags,
            claimed.c.open_holds,
            claimed.c.flags,
            claimed.c.locked_views,
            claimed.c.unconfirmed_views,
            claimed.c.last_refreshed_at,
            claimed.c.consecutive_failures,
            claimed.c.refresh_run_id,
            claimed.c.decide_after,
            claimed.c.lease_expires_at.label("lease"),
        )
        .select_from(claimed)
        .join(Campaign, Campaign.id == claimed.c.campaign_id)
        .join(Creator, Creator.id == claimed.c.creator_id)
        .outerjoin(CpmTier, CpmTier.id == claimed.c.cpm_tier_id)
        .order_by(*_fetch_order(claimed))
    )


def _fetch_order(claimed: CTE) -> list[ColumnElement[Any]]:
    """The order a claim is fetched in: urgency class by class, and within each the
    organizations in turns (every organization's most overdue post, then every one's second,
    ...), so a small organization's posts are among the first fetched however many posts a
    large one has in the same claim. Due order breaks ties."""
    turn = func.row_number().over(
        partition_by=(claimed.c.urgency, claimed.c.organization_id),
        order_by=(claimed.c.next_refresh_at, claimed.c.id),
    )
    return [claimed.c.urgency, turn, claimed.c.next_refresh_at, claimed.c.id]


async def release(session: AsyncSession, post_ids: list[uuid.UUID]) -> None:
    """Hand back posts claimed but not fetched (shutdown), so another worker takes them now
    instead of when the lease would have run out."""
    if post_ids:
        await session.execute(
            update(Post).where(Post.id.in_(post_ids)).values(lease_expires_at=None)
        )


async def oldest_due(
    session: AsyncSession, now: datetime, policy: Policy
) -> list[tuple[Platform, datetime | None]]:
    """Per platform, the due time of its most overdue due post."""
    rows = await session.execute(
        select(Post.platform, func.min(Post.next_refresh_at))
        .where(
            schedule.is_due_sql(Post.status, Post.next_refresh_at, Post.lease_expires_at, now),
            schedule.in_window_sql(Post.aged_from, now, policy.cadence.window),
        )
        .group_by(Post.platform)
    )
    return [(Platform(platform), at) for platform, at in rows]


async def lease_new(
    session: AsyncSession, post_ids: list[uuid.UUID], now: datetime, lease: timedelta
) -> list[DuePost]:
    """Posts just added (in this transaction) under a lease, as a claim would hand them
    over: their first stats, read from the listing that found them (watched accounts), go
    through the same write as any fetch."""
    if not post_ids:
        return []
    claimed = (
        update(Post)
        .where(Post.id.in_(post_ids))
        .values(lease_expires_at=now + lease)
        .returning(*Post.__table__.c, literal(1).label("urgency"))
        .cte("claimed")
    )
    return [DuePost(**row._mapping) for row in await session.execute(_due_posts(claimed))]
