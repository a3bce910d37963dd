"""A campaign's report: sums of the repository's groups, a daily series, top posts."""

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.integrity import FlagCode
from app.domain.payouts import EARNED
from app.domain.policy import Policy
from app.repositories import analytics
from app.schemas.analytics import (
    CampaignAnalytics,
    CampaignEarnings,
    CreatorTotals,
    DailyViews,
    FlaggedPosts,
    PostsByStatus,
    TopPost,
    Totals,
)


def daily_series(gains: list[tuple[date, int, int]], first: date, last: date) -> list[DailyViews]:
    """One entry per day from `first` to `last`, days without gains included, each with the
    campaign's total views at its end. `gains` is (day, views gained, of which baseline),
    ordered by day."""
    running = sum(gained for day, gained, _ in gains if day < first)
    by_day = {day: (gained, baseline) for day, gained, baseline in gains}
    series = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        gained, baseline = by_day.get(day, (0, 0))
        running += gained
        series.append(
            DailyViews(
                day=day,
                baseline_views=baseline,
                views_gained=gained - baseline,
                total_views=running,
            )
        )
    return series


async def campaign(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    currency: str,
    days: tuple[date, date],
    top: int,
    policy: Policy,
) -> CampaignAnalytics:
    """The campaign's report, with its daily series over `days` (first and last, UTC). Every
    figure covers all of the campaign's posts (see app/schemas/analytics.py)."""
    groups = await analytics.campaign_groups(session, campaign_id, policy)
    first, last = days
    gains = await analytics.daily_gains(session, campaign_id, last)
    return CampaignAnalytics(
        campaign_id=campaign_id,
        currency=currency,
        totals=Totals(
            views=sum(g.views for g in groups),
            likes=sum(g.likes for g in groups),
            comments=sum(g.comments for g in groups),
            shares=sum(g.shares for g in groups),
        ),
        posts_by_status=PostsByStatus(**_count_by_status(groups)),
        flagged_posts=FlaggedPosts(
            **{
                code.value: sum(g._mapping[f"flag_{code.value}"] for g in groups)
                for code in FlagCode
            }
        ),
        earnings=CampaignEarnings(
            finalized=_money(g.earnings for g in groups if g.status == PostStatus.FINALIZED),
            paid=_money(g.earnings for g in groups if g.status == PostStatus.PAID),
            projected=_money(g.projected for g in groups),
        ),
        daily_views=daily_series(gains, first, last),
        top_posts=[
            TopPost.model_validate(r._mapping)
            for r in await analytics.top_posts(session, campaign_id, top)
        ],
        creators=_per_creator(groups),
    )


def _money(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def _count_by_status(groups: Sequence[Row[Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter({status.value: 0 for status in PostStatus})
    for g in groups:
        counts[g.status] += g.posts
    return dict(counts)


def _per_creator(groups: Sequence[Row[Any]]) -> list[CreatorTotals]:
    """Most views first; ties by creator id."""
    by_creator: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
    for g in groups:
        by_creator[g.creator_id].append(g)
    creators = [
        CreatorTotals(
            creator_id=creator_id,
            handle=rows[0].handle,
            posts=sum(r.posts for r in rows),
            views=sum(r.views for r in rows),
            likes=sum(r.likes for r in rows),
            comments=sum(r.comments for r in rows),
            shares=sum(r.shares for r in rows),
            earnings=_money(r.earnings for r in rows if r.status in EARNED),
        )
        for creator_id, rows in by_creator.items()
    ]
    return sorted(creators, key=lambda c: (-c.views, c.creator_id))
