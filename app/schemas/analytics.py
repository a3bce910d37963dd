"""The analytics' answers. Scope, for every figure of a campaign's report: all of the
campaign's posts, rejected ones included (their views happened; `posts_by_status` says how
many are rejected, and earnings never include them). So `totals.views` equals the last
day's `total_views` once every post has been fetched that day."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, create_model

from app.domain.enums import Platform, PostStatus
from app.schemas.common import Earnings, Output, Page


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
    creator_id: uuid.UUID
    platform: Platform
    platform_post_id: str
    status: PostStatus
    views: int


class CreatorTotals(Output):
    creator_id: uuid.UUID
    handle: str
    posts: int
    views: int
    likes: int
    comments: int
    shares: int
    earnings: Earnings = Field(description="Finalized and paid.")


class FlaggedPosts(Output):
    """Posts with an open integrity flag, by code (a post may count under several)."""

    views_dropped: int
    view_spike: int
    low_engagement: int


class CampaignAnalytics(Output):
    campaign_id: uuid.UUID
    currency: str
    totals: Totals
    posts_by_status: PostsByStatus
    flagged_posts: FlaggedPosts
    earnings: CampaignEarnings
    daily_views: list[DailyViews]
    top_posts: list[TopPost]
    creators: list[CreatorTotals]
