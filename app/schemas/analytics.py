import uuid
from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from app.schemas.common import Output


class StatsPoint(Output):
    at: datetime = Field(description="Start of the bucket.")
    views: int
    likes: int
    comments: int
    shares: int | None


class Totals(Output):
    views: int
    likes: int
    comments: int
    shares: int


class Earnings(Output):
    finalized: Decimal = Field(description="Finalized, not yet paid.")
    paid: Decimal
    pending: Decimal = Field(
        description="What tracking posts with a tier would earn at their current views."
    )


class DailyViews(Output):
    day: date
    views_gained: int
    total_views: int


class TopPost(Output):
    id: uuid.UUID
    creator_id: uuid.UUID
    platform: str
    platform_post_id: str
    status: str
    views: int


class CreatorTotals(Output):
    creator_id: uuid.UUID
    handle: str
    posts: int
    views: int
    likes: int
    comments: int
    shares: int
    earnings: Decimal


class CampaignAnalytics(Output):
    campaign_id: uuid.UUID
    currency: str
    totals: Totals
    posts_by_status: dict[str, int]
    earnings: Earnings
    daily_views: list[DailyViews]
    top_posts: list[TopPost]
    creators: list[CreatorTotals]
