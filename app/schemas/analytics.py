"""The analytics' answers. Scope, for every figure of a report but the daily series: the
posts of the period (aged from within it: published, else added), of the campaign or the
organization, the creator and the platform asked for; all time by default, rejected posts
included (their views happened; `posts_by_status` says how many are rejected, and earnings
never include them). So, unfiltered, `totals.views` equals the last day's `total_views` once
every post has been fetched that day."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, PlainSerializer, WithJsonSchema, create_model

from app.domain.analytics import RATIO_PATTERN, AnalyticsPeriod
from app.domain.enums import Platform, PostStatus
from app.schemas.common import Earnings, Output, Page

Ratio = Annotated[
    Decimal,
    PlainSerializer(lambda value: format(value, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": RATIO_PATTERN}),
    Field(examples=["0.0525"]),
]


class StatsBucket(StrEnum):
    HOUR = "hour"
    DAY = "day"


class StatsPoint(Output):
    at: datetime = Field(description="Start of the bucket.")
    views: int
    likes: int
    comments: int
    shares: int | None


class StatsPage(Page[StatsPoint]):
    pass


class Totals(Output):
    views: int
    likes: int
    comments: int
    shares: int


# One field per status, built from the enum so a new status shows up here by itself.
_fields: dict[str, Any] = {status.value: (int, 0) for status in PostStatus}
PostsByStatus = create_model(
    "PostsByStatus",
    __base__=Output,
    __doc__="How many of the campaign's posts are in each status, zeros included.",
    **_fields,
)


class CampaignEarnings(Output):
    finalized: Earnings = Field(description="Finalized posts, not yet paid.")
    paid: Earnings = Field(description="Paid posts.")
    projected: Earnings = Field(
        description="What tracking posts at or above the campaign's minimum views would earn "
        "at their tier and current views (capped, rounded half-up); posts without a tier or "
        "below the minimum count zero."
    )


class DailyViews(Output):
    day: date
    baseline_views: int = Field(
        description="Views that posts already had when first fetched this day: part of "
        "`total_views`, not growth."
    )
    views_gained: int = Field(description="Growth this day, baselines excluded.")
    total_views: int = Field(description="All the campaign's posts' views at the day's end.")


class TopPost(Output):
    id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    creator_handle: str
    platform: Platform
    platform_post_id: str
    status: PostStatus
    views: int


class CreatorShare(Output):
    """One creator's part of the report's posts (most views first)."""

    creator_id: uuid.UUID
    handle: str
    posts: int
    views: int
    likes: int
    comments: int
    shares: int


class CreatorTotals(CreatorShare):
    earnings: Earnings = Field(description="Finalized and paid.")


class PlatformTotals(Output):
    platform: Platform
    posts: int
    views: int


class TopEarner(Output):
    """A creator's finalized and paid earnings in one currency (most first)."""

    creator_id: uuid.UUID
    handle: str
    currency: str
    posts: int = Field(description="Their finalized and paid posts.")
    earnings: Earnings


class Kpi(Output):
    """A count of the period beside the previous period's (null for all time); `change` is
    the relative change (0.2500: a quarter more), null without a previous value to divide
    by. `current` is null only for an average over no videos."""

    current: int | None
    previous: int | None
    change: Ratio | None


class RateKpi(Output):
    current: Ratio | None = Field(description="Null without views.")
    previous: Ratio | None
    change: Ratio | None


class MoneyKpi(Output):
    current: Earnings
    previous: Earnings | None
    change: Ratio | None


class EarningsKpis(Output):
    """The period's earnings in one currency (campaigns each have theirs)."""

    currency: str
    finalized: MoneyKpi = Field(description="Finalized posts, not yet paid.")
    paid: MoneyKpi
    projected: MoneyKpi = Field(description="As `earnings.projected`.")


class PeriodKpis(Output):
    """The KPI cards: the period's posts against the previous period's (the same length just
    before it)."""

    videos: Kpi
    active_creators: Kpi = Field(description="Creators with at least one of the videos.")
    views: Kpi = Field(description="The videos' current views.")
    average_views: Kpi = Field(description="Views per video, to the whole view, half-up.")
    engagement_rate: RateKpi = Field(
        description="(likes + comments + shares) / views, four places, half-up."
    )
    earnings: list[EarningsKpis] = Field(description="One entry per currency, by code.")


class CurrencyEarnings(Output):
    currency: str
    finalized: Earnings
    paid: Earnings
    projected: Earnings


class FlaggedPosts(Output):
    """Posts with an open integrity flag, by code (a post may count under several)."""

    views_dropped: int
    view_spike: int
    low_engagement: int


class Report(Output):
    period: AnalyticsPeriod
    period_start: datetime | None = Field(
        description="The period's posts are aged from this instant (midnight UTC) or later; "
        "null for all time."
    )
    previous_start: datetime | None = Field(
        description="The previous period: posts aged from here up to `period_start`."
    )
    creator_id: uuid.UUID | None
    platform: Platform | None
    kpis: PeriodKpis
    totals: Totals
    posts_by_status: PostsByStatus
    flagged_posts: FlaggedPosts
    by_platform: list[PlatformTotals] = Field(description="Every platform, zeros included.")
    daily_views: list[DailyViews] = Field(
        description="One entry per UTC day of the period (or of `days`), today included: the "
        "views the posts of the campaigns in scope gained, of the creator and platform asked "
        "for (not only the period's posts: every post's views on each day)."
    )
    top_posts: list[TopPost]
    top_earners: list[TopEarner]


class CampaignAnalytics(Report):
    campaign_id: uuid.UUID
    currency: str
    earnings: CampaignEarnings
    creators: list[CreatorTotals]


class OtherCreators(Output):
    """The creators past the listed ones, together."""

    creators: int
    posts: int
    views: int


class OrganizationAnalytics(Report):
    campaign_id: uuid.UUID | None = Field(description="The one campaign asked for, if any.")
    earnings: list[CurrencyEarnings] = Field(description="One entry per currency, by code.")
    creators: list[CreatorShare] = Field(
        description="The `top` most viewed creators (ties by id); the rest in `other_creators`."
    )
    other_creators: OtherCreators
