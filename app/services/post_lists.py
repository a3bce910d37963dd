"""A post list as people read it: each post as the API shows it (PostOut) with its campaign's
name and currency and its creator's handle. The list's CSV (the API's `GET /v1/posts.csv` and
the dashboard's download) and a creator's page are made here, from the one list query
(app.repositories.posts.list_page), so every filter means the same everywhere; the dashboard's
table reads the same query (app.web.posts_page) but writes its rows from the rows themselves."""

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.repositories import campaigns, creators, posts
from app.schemas.posts import PostFilterQuery, PostListQuery, PostOut
from app.services import post_presenter
from app.services.payout_exports import BOM, amount, identifier, lines, moment, neutralize


@dataclass(frozen=True)
class PostLine:
    post: PostOut
    campaign: str
    currency: str
    handle: str


async def present(session: AsyncSession, org: uuid.UUID, rows: Sequence[Any]) -> list[PostLine]:
    """A page of list_page's rows: three queries whatever its size (holds, campaigns,
    creators)."""
    shown = await post_presenter.present(session, rows)
    named = await campaigns.by_ids(session, org, {p.campaign_id for p in shown})
    handles = await creators.handles(session, org, {p.creator_id for p in shown})
    return [
        PostLine(
            p,
            named[p.campaign_id].name,
            named[p.campaign_id].currency,
            handles[p.creator_id],
        )
        for p in shown
    ]


CSV_COLUMNS = (
    "post_id",
    "campaign",
    "campaign_id",
    "creator_handle",
    "creator_id",
    "platform",
    "platform_post_id",
    "url",
    "published_at",
    "status",
    "views",
    "likes",
    "comments",
    "shares",
    "cpm_tier_id",
    "locked_views",
    "earnings",
    "currency",
    "holds",
    "flags",
    "added_at",
)
# Rows a CSV reads per query: the API's largest page.
CSV_PAGE = 200


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


def _cells(line: PostLine) -> list[str]:
    p = line.post
    return [
        str(p.id),
        neutralize(line.campaign),
        str(p.campaign_id),
        neutralize(line.handle),
        str(p.creator_id),
        p.platform.value,
        identifier(p.platform_post_id),
        neutralize(p.url),
        moment(p.published_at),
        p.status.value,
        str(p.views),
        _count(p.likes),
        str(p.comments),
        _count(p.shares),
        str(p.cpm_tier_id or ""),
        _count(p.locked_views),
        amount(p.earnings),
        line.currency,
        " ".join(h.code for h in p.holds),
        " ".join(f.value for f in p.flags),
        moment(p.created_at),
    ]


def csv_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    org: uuid.UUID,
    campaign_id: uuid.UUID | None,
    query: PostFilterQuery,
    feed_settle: timedelta,
    only: frozenset[uuid.UUID] | None,
) -> AsyncIterator[bytes]:
    """Every post of the filter, in the list's order, as CSV: the rows the list's pages
    would give one after another, read a page at a time (memory stays one page whatever the
    size) on a session of its own (the request's ends before a streamed body is sent). The
    list's query is made here, before anything is sent: once the body streams, a failure can
    only cut it short."""
    # Through the filter's JSON form: its times are read back as the API reads them.
    filters = query.model_dump(mode="json", exclude={"cursor", "limit"})
    page = PostListQuery.model_validate({**filters, "limit": CSV_PAGE})
    return _csv_rows(sessionmaker, org, campaign_id, page, feed_settle, only)


async def _csv_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    org: uuid.UUID,
    campaign_id: uuid.UUID | None,
    page: PostListQuery,
    feed_settle: timedelta,
    only: frozenset[uuid.UUID] | None,
) -> AsyncIterator[bytes]:
    yield (BOM + lines([CSV_COLUMNS])).encode()
    async with sessionmaker() as session:
        while True:
            rows, cursor = await posts.list_page(
                session, org, campaign_id, page, feed_settle, only=only
            )
            if rows:
                yield lines(_cells(line) for line in await present(session, org, rows)).encode()
            if cursor is None or len(rows) < CSV_PAGE:
                return
            page = page.model_copy(update={"cursor": cursor})
