"""Time series and totals for the dashboard's charts."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.deps import Session, Viewer
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES, invalid
from app.repositories import analytics, campaigns, posts
from app.schemas.analytics import CampaignAnalytics, StatsPoint
from app.schemas.common import Moment
from app.services import analytics as analytics_service

router = APIRouter(tags=["analytics"], responses=PROBLEM_RESPONSES)


@router.get("/v1/posts/{post_id}/stats")
async def posts_stats(
    post_id: uuid.UUID,
    session: Session,
    who: Viewer,
    start: Annotated[
        Moment | None, Query(alias="from", description="Default: 30 days ago.")
    ] = None,
    end: Annotated[Moment | None, Query(alias="to", description="Default: now.")] = None,
    bucket: Literal["hour", "day"] = "day",
) -> list[StatsPoint]:
    """The post's snapshots, one point per bucket (the highest counts seen in it)."""
    post = found(await posts.get(session, who.organization_id, post_id), "post")
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    if start >= end:
        raise invalid("invalid_range", "`from` must be before `to`.", "/query/from")
    rows = await analytics.post_series(session, post.id, start, end, bucket)
    return [StatsPoint.model_validate(r._mapping) for r in rows]


@router.get("/v1/campaigns/{campaign_id}/analytics")
async def campaigns_analytics(
    campaign_id: uuid.UUID,
    session: Session,
    who: Viewer,
    days: Annotated[int, Query(ge=1, le=365, description="Length of the daily series.")] = 30,
    top: Annotated[int, Query(ge=1, le=100, description="How many top posts.")] = 10,
) -> CampaignAnalytics:
    """Totals (rejected posts excluded), posts by status, earnings, top posts, per-creator
    totals, and daily views: one entry per UTC day of the last `days`, today included, with
    the views gained that day and the total at its end, as the refreshes recorded them for
    every post of the campaign (a post rejected later keeps its part of the history)."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    today = datetime.now(UTC).date()
    window = (today - timedelta(days=days - 1), today)
    return await analytics_service.campaign(session, campaign.id, campaign.currency, window, top)
