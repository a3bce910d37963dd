"""Time series and totals for the dashboard's charts."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import AppSettings, Session, Viewer
from app.domain.analytics import AnalyticsPeriod
from app.domain.enums import Platform
from app.domain.errors import found
from app.domain.permissions import Action
from app.domain.policy import Policy
from app.errors import PROBLEM_RESPONSES
from app.repositories import analytics, campaigns, posts
from app.schemas.analytics import (
    CampaignAnalytics,
    OrganizationAnalytics,
    StatsBucket,
    StatsPage,
    StatsPoint,
)
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
        data=[StatsPoint.model_validate(r._asdict()) for r in rows], next_cursor=next_cursor
    )


_PERIOD = Query(
    description="The posts aged from (published, else added) within the last 7, 14, 30 or "
    "90 UTC days, today included, compared with the same length just before; or all time."
)
_CREATOR = Query(description="Only this creator's posts.")
_PLATFORM = Query(description="Only this platform's posts.")
_DAYS = Query(
    ge=1,
    le=365,
    description="Length of the daily series. Default: the period's days (all time: 30).",
)
_TOP = Query(
    ge=1,
    le=100,
    description="How many top posts and top earners (and, for an organization, creators).",
)


@router.get("/v1/campaigns/{campaign_id}/analytics")
async def campaigns_analytics(
    campaign_id: uuid.UUID,
    session: Session,
    who: Viewer,
    settings: AppSettings,
    period: Annotated[AnalyticsPeriod, _PERIOD] = AnalyticsPeriod.ALL,
    creator_id: Annotated[uuid.UUID | None, _CREATOR] = None,
    platform: Annotated[Platform | None, _PLATFORM] = None,
    days: Annotated[int | None, _DAYS] = None,
    top: Annotated[int, _TOP] = 10,
) -> CampaignAnalytics:
    """The campaign's report. One scope for every figure but the daily series: the period's
    posts of the campaign (of the creator and platform, if asked), rejected ones included
    (`posts_by_status` counts every status, zeros included; earnings never include rejected
    posts); `kpis` compares them with the previous period's. Daily views: one entry per UTC
    day, today included, over the campaign's posts (of the creator and platform, if asked;
    of every period), with the views posts had at their first fetch that day
    (`baseline_views`), the growth that day (`views_gained`) and the total at the day's end;
    for all time, the last day's total equals `totals.views` once every post has been
    fetched that day."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    query = analytics_service.Query(period, creator_id, platform, top, days)
    return await analytics_service.campaign(
        session, campaign, query, datetime.now(UTC).date(), Policy.from_settings(settings)
    )


@router.get("/v1/analytics")
async def organization_analytics(
    session: Session,
    who: Viewer,
    settings: AppSettings,
    period: Annotated[AnalyticsPeriod, _PERIOD] = AnalyticsPeriod.ALL,
    campaign_id: Annotated[
        uuid.UUID | None, Query(description="Only this campaign (404 if out of reach).")
    ] = None,
    creator_id: Annotated[uuid.UUID | None, _CREATOR] = None,
    platform: Annotated[Platform | None, _PLATFORM] = None,
    days: Annotated[int | None, _DAYS] = None,
    top: Annotated[int, _TOP] = 10,
) -> OrganizationAnalytics:
    """The organization's report, as a campaign's but over all its campaigns (a caller
    restricted to some campaigns: over those), or the one `campaign_id`. Campaigns may differ
    in currency: earnings come per currency, and creators without earnings."""
    query = analytics_service.Query(period, creator_id, platform, top, days)
    return await analytics_service.organization(
        session,
        who.organization_id,
        who.within(Action.CAMPAIGN_READ),
        campaign_id,
        query,
        datetime.now(UTC).date(),
        Policy.from_settings(settings),
    )
