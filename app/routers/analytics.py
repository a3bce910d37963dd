"""Time series and totals for the dashboard's charts."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import AppSettings, Session, Viewer
from app.domain.errors import found
from app.domain.policy import Policy
from app.errors import PROBLEM_RESPONSES
from app.repositories import analytics, campaigns, posts
from app.schemas.analytics import CampaignAnalytics, StatsBucket, StatsPage, StatsPoint
from app.schemas.common import Cursor, Moment
from app.services import analytics as analytics_service

router = APIRouter(tags=["analytics"], responses=PROBLEM_RESPONSES)


@router.get("/v1/posts/{post_id}/stats")
async def posts_stats(
    post_id: uuid.UUID,
    session: Session,
    who: Viewer,
    start: Annotated[
        Moment | None, Query(alias="from", description="Inclusive. Default: 30 days before `to`.")
    ] = None,
    end: Annotated[Moment | None, Query(alias="to", description="Exclusive. Default: now.")] = None,
    bucket: StatsBucket = StatsBucket.DAY,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size (buckets).")] = 200,
) -> StatsPage:
    """The post's snapshots, one point per bucket (the highest counts seen in it), oldest
    first."""
    post = found(await posts.get(session, who.organization_id, post_id), "post")
    rows, next_cursor = await analytics.post_series(
        session, post.id, (start, end), bucket.value, cursor, limit, datetime.now(UTC)
    )
    return StatsPage(
        data=[StatsPoint.model_validate(r._mapping) for r in rows], next_cursor=next_cursor
    )


@router.get("/v1/campaigns/{campaign_id}/analytics")
async def campaigns_analytics(
    campaign_id: uuid.UUID,
    session: Session,
    who: Viewer,
    settings: AppSettings,
    days: Annotated[int, Query(ge=1, le=365, description="Length of the daily series.")] = 30,
    top: Annotated[int, Query(ge=1, le=100, description="How many top posts.")] = 10,
) -> CampaignAnalytics:
    """The campaign's report. One scope for every figure: all of the campaign's posts,
    rejected ones included (`posts_by_status` counts every status, zeros included; earnings
    never include rejected posts). Daily views: one entry per UTC day of the last `days`,
    today included, with the views posts had at their first fetch that day (`baseline_views`),
    the growth that day (`views_gained`) and the campaign's total at the day's end; the last
    day's total equals `totals.views` once every post has been fetched that day."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    today = datetime.now(UTC).date()
    window = (today - timedelta(days=days - 1), today)
    return await analytics_service.campaign(
        session, campaign.id, campaign.currency, window, top, Policy.from_settings(settings)
    )
