"""The analytics' reports (a campaign's, an organization's): sums of the repository's
groups for the period and the one before, a daily series, top posts and earners."""

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import analytics as analytics_rules
from app.domain.analytics import AnalyticsPeriod
from app.domain.enums import Platform, PostStatus
from app.domain.errors import NotFound
from app.domain.integrity import FlagCode
from app.domain.payouts import EARNED
from app.domain.policy import Policy
from app.models import Campaign
from app.repositories import analytics, campaigns
from app.repositories.analytics import Scope
from app.schemas.analytics import (
    CampaignAnalytics,
    CampaignEarnings,
    CreatorShare,
    CreatorTotals,
    CurrencyEarnings,
    DailyViews,
    EarningsKpis,
    FlaggedPosts,
    Kpi,
    MoneyKpi,
    OrganizationAnalytics,
    OtherCreators,
    PeriodKpis,
    PlatformTotals,
    PostsByStatus,
    RateKpi,
    TopEarner,
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


# The daily series' length for all time, unless asked for another (the API's default before
# periods existed, kept for its clients).
ALL_TIME_DAYS = 30


@dataclass(frozen=True)
class Query:
    """What a report is asked for beside its campaigns (the API's query parameters)."""

    period: AnalyticsPeriod = AnalyticsPeriod.ALL
    creator_id: uuid.UUID | None = None
    platform: Platform | None = None
    top: int = 10
    days: int | None = None  # the daily series' length, if not the period's


async def campaign(
    session: AsyncSession,
    campaign: Campaign,
    query: Query,
    today: date,
    policy: Policy,
) -> CampaignAnalytics:
    """One campaign's report (see app/schemas/analytics.py for what each figure covers)."""
    scope = Scope(
        campaign.organization_id, frozenset({campaign.id}), query.creator_id, query.platform
    )
    parts, rows, (earnings,) = await _report(
        session, scope, query, today, policy, [campaign.currency]
    )
    return CampaignAnalytics(
        **parts,
        campaign_id=campaign.id,
        currency=campaign.currency,
        earnings=CampaignEarnings(
            finalized=earnings.finalized, paid=earnings.paid, projected=earnings.projected
        ),
        creators=_per_creator(rows),
    )


async def organization(
    session: AsyncSession,
    organization_id: uuid.UUID,
    reach: frozenset[uuid.UUID] | None,
    campaign_id: uuid.UUID | None,
    query: Query,
    today: date,
    policy: Policy,
) -> OrganizationAnalytics:
    """The report over the organization's campaigns within `reach` (a restricted caller's
    campaigns; None: all), or over the one `campaign_id`, which must be within it (else
    NotFound, as for another organization's)."""
    if campaign_id is not None:
        if (reach is not None and campaign_id not in reach) or await campaigns.get(
            session, organization_id, campaign_id
        ) is None:
            raise NotFound("campaign")
        reach = frozenset({campaign_id})
    scope = Scope(organization_id, reach, query.creator_id, query.platform)
    parts, rows, earnings = await _report(session, scope, query, today, policy, [])
    creators = _per_creator(rows)
    shown, others = creators[: query.top], creators[query.top :]
    return OrganizationAnalytics(
        **parts,
        campaign_id=campaign_id,
        earnings=earnings,
        creators=[CreatorShare.model_validate(c, from_attributes=True) for c in shown],
        other_creators=OtherCreators(
            creators=len(others),
            posts=sum(c.posts for c in others),
            views=sum(c.views for c in others),
        ),
    )


async def _report(
    session: AsyncSession,
    base: Scope,
    query: Query,
    today: date,
    policy: Policy,
    currencies: list[str],
) -> tuple[dict[str, Any], Sequence[Row[Any]], list[CurrencyEarnings]]:
    """The fields every report has, the period's groups and its earnings per currency (for
    the fields of its kind)."""
    period = analytics_rules.window(query.period, today)
    # The period's groups and the previous period's, from one statement.
    rows, previous = await analytics.groups(
        session, base.between(period.start, None), policy, period.previous_start
    )
    gains = await analytics.daily_gains(session, base, today)
    days = query.days or query.period.days or ALL_TIME_DAYS
    first = today - timedelta(days=days - 1)
    top_posts = await analytics.top_posts(session, base.between(period.start, None), query.top)
    # Each set of groups added up once: the KPI cards, the totals and the earnings read these.
    now = _summary(rows, currencies)
    before = None if previous is None else _summary(previous, [e.currency for e in now.earnings])
    parts: dict[str, Any] = {
        "period": query.period,
        "period_start": period.start,
        "previous_start": period.previous_start,
        "creator_id": query.creator_id,
        "platform": query.platform,
        "kpis": _kpis(now, before),
        "totals": now.totals,
        "posts_by_status": PostsByStatus(**_count_by_status(rows)),
        "flagged_posts": FlaggedPosts(
            **{code.value: sum(g._mapping[f"flag_{code.value}"] for g in rows) for code in FlagCode}
        ),
        "by_platform": [
            PlatformTotals(
                platform=platform,
                posts=sum(g.posts for g in rows if g.platform == platform),
                views=sum(g.views for g in rows if g.platform == platform),
            )
            for platform in Platform
        ],
        "daily_views": daily_series(gains, first, today),
        "top_posts": [TopPost.model_validate(r._mapping) for r in top_posts],
        "top_earners": _top_earners(rows, query.top),
    }
    return parts, rows, now.earnings


@dataclass(frozen=True)
class _Summary:
    """One period's groups added up."""

    totals: Totals
    videos: int
    active_creators: int
    earnings: list[CurrencyEarnings]


def _summary(groups: Sequence[Row[Any]], currencies: list[str]) -> _Summary:
    return _Summary(
        totals=_totals(groups),
        videos=sum(g.posts for g in groups),
        active_creators=len({g.creator_id for g in groups}),
        earnings=_earnings_by_currency(groups, currencies),
    )


def _totals(groups: Sequence[Row[Any]]) -> Totals:
    return Totals(
        views=sum(g.views for g in groups),
        likes=sum(g.likes for g in groups),
        comments=sum(g.comments for g in groups),
        shares=sum(g.shares for g in groups),
    )


def _earnings_by_currency(
    groups: Sequence[Row[Any]], currencies: list[str]
) -> list[CurrencyEarnings]:
    """Each currency of the groups (and those asked for, zeros if none), by code."""
    return [
        CurrencyEarnings(
            currency=currency,
            finalized=_money(
                g.earnings
                for g in groups
                if g.currency == currency and g.status == PostStatus.FINALIZED
            ),
            paid=_money(
                g.earnings for g in groups if g.currency == currency and g.status == PostStatus.PAID
            ),
            projected=_money(g.projected for g in groups if g.currency == currency),
        )
        for currency in sorted({*currencies, *(g.currency for g in groups)})
    ]


def _kpis(now: _Summary, before: _Summary | None) -> PeriodKpis:
    """The period's cards beside the previous period's (None: all time, nothing before)."""

    def figures(summary: _Summary) -> dict[str, int | None]:
        return {
            "videos": summary.videos,
            "active_creators": summary.active_creators,
            "views": summary.totals.views,
            "average_views": analytics_rules.average(summary.totals.views, summary.videos),
        }

    figures_now = figures(now)
    figures_before = figures(before) if before is not None else None

    def kpi(key: str) -> Kpi:
        was = None if figures_before is None else figures_before[key]
        current = figures_now[key]
        return Kpi(current=current, previous=was, change=analytics_rules.change(current, was))

    def rate(summary: _Summary | None) -> Decimal | None:
        if summary is None:
            return None
        t = summary.totals
        return analytics_rules.engagement_rate(t.likes, t.comments, t.shares, t.views)

    rate_now, rate_before = rate(now), rate(before)
    earned_now = {e.currency: e for e in now.earnings}
    earned_before = None if before is None else {e.currency: e for e in before.earnings}
    zero = CurrencyEarnings(
        currency="", finalized=Decimal("0.00"), paid=Decimal("0.00"), projected=Decimal("0.00")
    )

    def money(currency: str, field: str) -> MoneyKpi:
        current = getattr(earned_now.get(currency, zero), field)
        was = None if earned_before is None else getattr(earned_before[currency], field)
        return MoneyKpi(current=current, previous=was, change=analytics_rules.change(current, was))

    return PeriodKpis(
        videos=kpi("videos"),
        active_creators=kpi("active_creators"),
        views=kpi("views"),
        average_views=kpi("average_views"),
        engagement_rate=RateKpi(
            current=rate_now,
            previous=rate_before,
            change=analytics_rules.change(rate_now, rate_before),
        ),
        earnings=[
            EarningsKpis(
                currency=currency,
                finalized=money(currency, "finalized"),
                paid=money(currency, "paid"),
                projected=money(currency, "projected"),
            )
            for currency in sorted({*earned_now, *(earned_before or {})})
        ],
    )


def _top_earners(groups: Sequence[Row[Any]], top: int) -> list[TopEarner]:
    """Finalized and paid earnings per creator and currency, most first (ties by creator)."""
    earned: dict[tuple[uuid.UUID, str], list[Row[Any]]] = defaultdict(list)
    for g in groups:
        if g.status in EARNED:
            earned[(g.creator_id, g.currency)].append(g)
    earners = [
        TopEarner(
            creator_id=creator_id,
            handle=rows[0].handle,
            currency=currency,
            posts=sum(r.posts for r in rows),
            earnings=_money(r.earnings for r in rows),
        )
        for (creator_id, currency), rows in earned.items()
    ]
    earners.sort(key=lambda e: (-e.earnings, e.currency, e.creator_id))
    return earners[:top]


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
