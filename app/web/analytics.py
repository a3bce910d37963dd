"""Analytics at /app/analytics: the answer of `GET /v1/analytics` for the filters chosen
(period, campaign, creator, platform), rendered: KPI cards against the previous period,
charts of daily views, posts by status, platforms and creators, each beside a table of its
numbers, and the top videos and earners. The page calls the service the API calls with the
same arguments, and links to the API's answer for the same query."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from app.deps import AppSettings, Session
from app.domain.analytics import AnalyticsPeriod
from app.domain.enums import PLATFORM_LIST, Platform, PostStatus
from app.domain.errors import NotFound
from app.domain.permissions import Action
from app.domain.policy import Policy
from app.schemas.analytics import OrganizationAnalytics
from app.services import analytics as analytics_service
from app.web import choices
from app.web.charts import Bar, Point, bar_chart, column_chart, line_chart
from app.web.layout import Page, page
from app.web.templating import label
from app.web.templating import platform as platform_name

router = APIRouter()

# What the page lists of each: top videos, top earners, creators in the share chart.
TOP = 10
_CAMPAIGN_CHOICES = 200  # the campaigns offered in the filter (the API's largest page)
PERIODS = (
    (AnalyticsPeriod.DAYS_7, "7 days"),
    (AnalyticsPeriod.DAYS_14, "14 days"),
    (AnalyticsPeriod.DAYS_30, "30 days"),
    (AnalyticsPeriod.DAYS_90, "90 days"),
    (AnalyticsPeriod.ALL, "All time"),
)
DEFAULT_PERIOD = AnalyticsPeriod.DAYS_30


@dataclass(frozen=True)
class Filters:
    period: AnalyticsPeriod = DEFAULT_PERIOD
    campaign_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None
    platform: Platform | None = None

    def query(self, **changes: object) -> str:
        """This page's (and the API's) query string, with `changes` (None drops one)."""
        values: dict[str, object] = {
            "period": self.period.value,
            "campaign_id": self.campaign_id,
            "creator_id": self.creator_id,
            "platform": self.platform.value if self.platform else None,
        }
        values.update(changes)
        return urlencode({k: str(v) for k, v in values.items() if v is not None})

    def api_url(self) -> str:
        return f"/v1/analytics?{self.query(top=TOP)}"


def parse(params: dict[str, str | None]) -> tuple[Filters, list[str]]:
    """The filters asked for, and a sentence for each one that cannot be read (the page
    shows them instead of the report, as the API would answer 422)."""
    problems = []
    period = DEFAULT_PERIOD
    if params.get("period"):
        try:
            period = AnalyticsPeriod(str(params["period"]))
        except ValueError:
            problems.append("The period is one of 7, 14, 30 or 90 days, or all time.")
    ids: dict[str, uuid.UUID | None] = {}
    for key, what in (("campaign_id", "campaign"), ("creator_id", "creator")):
        ids[key] = None
        if params.get(key):
            try:
                ids[key] = uuid.UUID(str(params[key]))
            except ValueError:
                problems.append(f"That {what} id cannot be read.")
    platform = None
    if params.get("platform"):
        try:
            platform = Platform(str(params["platform"]))
        except ValueError:
            problems.append(f"The platform is {PLATFORM_LIST}.")
    return Filters(period, ids["campaign_id"], ids["creator_id"], platform), problems


def _day(day: Any) -> datetime:
    return datetime.combine(day, time(), UTC)


def charts(report: OrganizationAnalytics) -> dict[str, Markup]:
    """Each chart of the report, drawn from the numbers of the tables beside it."""
    daily = report.daily_views
    creators = [Bar("@" + c.handle, c.views) for c in report.creators]
    if report.other_creators.creators:
        creators.append(Bar(_others(report), report.other_creators.views))
    return {
        "total": line_chart([Point(_day(d.day), d.total_views) for d in daily], "Total views"),
        "gained": column_chart(
            [Point(_day(d.day), d.views_gained) for d in daily], "Views gained each day"
        ),
        "status": bar_chart(
            [Bar(label(s), getattr(report.posts_by_status, s.value), s.value) for s in PostStatus],
            "Videos by status",
        ),
        "platform": bar_chart(
            [Bar(platform_name(p.platform), p.views, p.platform.value) for p in report.by_platform],
            "Views by platform",
        ),
        "creators": bar_chart(creators, "Views by creator"),
    }


def _others(report: OrganizationAnalytics) -> str:
    n = report.other_creators.creators
    return f"{n:,} other creator{'s' if n != 1 else ''}"


@router.get("/app/analytics")
async def analytics_page(
    request: Request,
    session: Session,
    me: Page,
    settings: AppSettings,
    # Read as text and checked by `parse`: a filter that cannot be read is a message on the
    # page (FastAPI's 422 would be a JSON problem in a browser tab).
    period: str | None = None,
    campaign_id: str | None = None,
    creator_id: str | None = None,
    platform: str | None = None,
) -> Response:
    filters, problems = parse(
        {
            "period": period,
            "campaign_id": campaign_id,
            "creator_id": creator_id,
            "platform": platform,
        }
    )
    org = me.principal.organization_id
    reach = me.principal.within(Action.CAMPAIGN_READ)
    offered = await choices.campaigns(request, session, org, _CAMPAIGN_CHOICES, reach)
    report = None
    if not problems:
        query = analytics_service.Query(
            filters.period, filters.creator_id, filters.platform, TOP, None
        )
        try:
            report = await analytics_service.organization(
                session,
                org,
                reach,
                filters.campaign_id,
                query,
                datetime.now(UTC).date(),
                Policy.from_settings(settings),
            )
        except NotFound:
            problems.append("No campaign with that id.")
    context = {
        "filters": filters,
        "problems": problems,
        "report": report,
        "charts": charts(report) if report else {},
        "periods": PERIODS,
        "campaigns": offered,
        "campaign_names": {c.id: c.name for c in offered},
        "platforms": [(p.value, platform_name(p)) for p in Platform],
        "others": _others(report) if report else "",
    }
    return await page(request, session, me, "analytics.html", context, current="analytics")
