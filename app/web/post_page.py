"""A post's page: its stats over time (the API's `posts_stats` series, drawn as SVG with the
numbers beside), its status history with who acted and why, its holds and flags with their
actions (through app.web.post_actions, the one endpoint that acts on posts), and the
decision's evidence with a link to each raw answer (the API's `posts_evidence` and
`posts_snapshot_raw`, which a signed-in browser reads with its session cookie)."""

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import Session
from app.domain import lifecycle
from app.domain.errors import NotFound
from app.repositories import analytics, campaigns, post_page_reads, tiers
from app.schemas.posts import PostOut
from app.services import evidence as evidence_service
from app.web import actions
from app.web.charts import Point, line_chart
from app.web.layout import Page, Viewer, page
from app.web.post_actions import CHANGED
from app.web.templating import day, moment, number

router = APIRouter()

# Hourly points while a post is young enough for them to read as a line (refreshes come
# every few hours); daily after. Either way every snapshot is in some point.
HOURLY_UP_TO = timedelta(days=14)
_PAGE = 1000  # the API's largest page of buckets

METRICS = (("views", "Views"), ("likes", "Likes"), ("comments", "Comments"), ("shares", "Shares"))


# Buckets start on whole hours and days, the same few for every post of a period: their
# labels are remembered (strftime was most of a row).
@functools.lru_cache(maxsize=4096)
def _start(at: datetime, bucket: str) -> str:
    return moment(at) if bucket == "hour" else day(at)


@dataclass(frozen=True)
class Series:
    bucket: Literal["hour", "day"]  # as the API's `bucket`
    start: datetime
    points: list[analytics.Bucket]
    charts: list[tuple[str, str, Markup]]  # key, label, chart

    def rows(self) -> Markup:
        """The table's rows, a bucket each: dates (their labels remembered, see _start) and
        digits, nothing to escape. Ten cost 32 µs written here, 81 in the template."""
        return Markup(
            "".join(
                f'<tr><td class="nowrap">{_start(p.at, self.bucket)}</td>'
                f'<td class="num">{number(p.views)}</td>'
                f'<td class="num">{number(p.likes)}</td><td class="num">{number(p.comments)}'
                f'</td><td class="num">{number(p.shares)}</td></tr>'
                for p in self.points
            )
        )

    def api_url(self, post_id: uuid.UUID) -> str:
        """The same numbers from the API (the first page of them)."""
        start = self.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"/v1/posts/{post_id}/stats?bucket={self.bucket}&from={start}&limit={_PAGE}"


async def _shown_and_series(
    session: AsyncSession, org: uuid.UUID, post: PostOut, now: datetime
) -> tuple[campaigns.Shown, Series] | None:
    """The post's campaign, creator and tier, and every snapshot of the post bucketed as `GET
    /v1/posts/{id}/stats` buckets them (the same query), from when it could first have been
    fetched: one statement (app.repositories.post_page_reads), and more only for a series longer
    than a page of buckets. None when its campaign is gone (deleted since the post was read)."""
    start = min(post.created_at, post.published_at or post.created_at)
    bucket: Literal["hour", "day"] = "hour" if now - start <= HOURLY_UP_TO else "day"
    shown_ids = (post.campaign_id, post.creator_id, post.cpm_tier_id)
    found = await post_page_reads.read(
        session, org, post.id, shown_ids, bucket, (start, now), _PAGE
    )
    if found is None:
        return None
    points = found.points
    if not found.complete:  # longer than a page of buckets: all of it, as the API pages it
        points, cursor = [], None
        while True:
            rows, cursor = await analytics.post_series(
                session, post.id, (start, now), bucket, cursor, _PAGE, now
            )
            points += rows
            if cursor is None:
                break
    charts = []
    for key, label in METRICS:
        values = [(p.at, getattr(p, key)) for p in points]
        drawn = [Point(at, v) for at, v in values if v is not None]
        charts.append((key, label, line_chart(drawn, label)))
    return found.shown, Series(bucket, start, points, charts)


def _who(event: Any) -> str:
    if event.actor_user is not None:
        return str(event.actor_user.name or event.actor_user.email)
    if event.actor_key_id is not None:
        return f"API key {str(event.actor_key_id)[:8]}"
    return "ViewLedger (automatic)"


async def _reachable(session: AsyncSession, me: Viewer, post_id: uuid.UUID) -> bool:
    """Whether the viewer may read the post, as `GET /v1/posts/{id}` decides: a viewer
    restricted to some campaigns by the post's campaign (a statement), any other by its
    role; a post of another organization, or none, is then not found by the read itself."""
    if not me.principal.actor().restricted:
        return me.can("posts_get")
    allowed, _ = await actions.authorize(session, me.principal, "posts_get", [post_id])
    return post_id in allowed


async def not_found(request: Request, session: AsyncSession, me: Viewer, what: str) -> Response:
    """Another organization's record, or one outside the viewer's campaigns: as if it did
    not exist (the API answers 404 for both alike)."""
    context = {"what": what}
    return await page(request, session, me, "post_page_missing.html", context, status_code=404)


# `:uuid`: only an id matches, so other pages under /app/posts/ (the table's CSV) never meet
# this route whatever the order the routers are included in.
@router.get("/app/posts/{post_id:uuid}")
async def post_page(request: Request, post_id: uuid.UUID, session: Session, me: Page) -> Response:
    if not await _reachable(session, me, post_id):
        return await not_found(request, session, me, "post")
    org = me.principal.organization_id
    try:
        evidence = await evidence_service.of_post(session, org, post_id)
    except NotFound:
        return await not_found(request, session, me, "post")
    post = evidence.post
    campaign_id = post.campaign_id
    read = await _shown_and_series(session, org, post, datetime.now(UTC))
    if read is None:  # its campaign deleted since the post was read
        return await not_found(request, session, me, "post")
    shown, series = read
    status = post.status
    campaign_tiers = (
        await tiers.choices(session, [campaign_id])
        if status in lifecycle.TIER_ASSIGNABLE and me.can("posts_update", campaign_id)
        else []
    )
    context = {
        "post": post,
        "campaign": shown.campaign,
        "handle": shown.handle,
        "tier": shown.tier,
        "tiers": campaign_tiers,
        "series": series,
        "evidence": evidence,
        "decision": evidence.decision,
        "who": _who,
        "changed": CHANGED,
        "may": {
            operation: me.can(operation, campaign_id)
            for operation in ("posts_holds_clear", "posts_flags_resolve", "refresh_runs_create")
        },
        # The actions on the post itself: the viewer's role, and the lifecycle's rule for its
        # status (app.domain.lifecycle), decide which are offered.
        "offers": {
            "tier": bool(campaign_tiers),
            "reject": me.can("posts_reject", campaign_id) and status in lifecycle.REJECTABLE,
            "restore": me.can("posts_restore", campaign_id) and status in lifecycle.RESTORABLE,
        },
    }
    return await page(request, session, me, "post_page.html", context, current="posts")
