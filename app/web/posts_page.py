"""The Posts table at /app/posts: the API's post list (`GET /v1/posts`: the same query,
`posts.list_page`, with the same PostListQuery and the same campaign reach) as a table with
filters in the address bar, sorting, keyset pages, bulk actions through
`POST /app/posts/act`, and the filter's CSV (`GET /v1/posts.csv`'s rows).

The page's parameters are the API's, except three made for a form: `hold` and `flag` take a
code, `any` (has_hold / has_flag true) or `none` (false); the published range is two days
(`published_to` inclusive) that become the API's moments."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AppSettings, Session
from app.domain import lifecycle
from app.domain.enums import Platform, PostStatus
from app.domain.errors import InvalidCursor
from app.domain.integrity import FlagCode
from app.domain.permissions import Action
from app.repositories import campaigns, creators, holds, posts, tiers
from app.schemas.posts import PostListQuery, PostSort
from app.services import post_lists
from app.web import choices, post_rows
from app.web.layout import Page, Viewer, page
from app.web.post_actions import CHANGED, Operation
from app.web.templating import render

router = APIRouter()

PAGE_SIZE = 50
RESULTS = "posts-results"  # the element htmx swaps when the filter, sort or page changes
HOLD_CODES = ("author_mismatch", "outside_campaign_window", "duplicate_video")
# Column headers that sort, and the API sort key each asks for.
SORTABLE = {"published": "published_at", "views": "views", "added": "created_at"}
# The form's parameters (anything else in the address is ignored, as a page ignores it).
_FORM = (
    "campaign_id",
    "creator_id",
    "platform",
    "status",
    "hold",
    "flag",
    "published_from",
    "published_to",
    "q",
    "sort",
)
_LABELS = {"q": "Search", "published_from": "Published from", "published_to": "Published to"}


class TableParams(BaseModel):
    """The page's parameters as sent: declared (the app refuses undeclared ones) as plain
    text, so `read` can say in words what is wrong with one instead of a 422."""

    campaign_id: str = ""
    creator_id: str = ""
    platform: str = ""
    status: list[str] = Field(default_factory=list)
    hold: str = ""
    flag: str = ""
    published_from: str = ""
    published_to: str = ""
    q: str = ""
    sort: str = ""
    cursor: str = ""

    def as_lists(self) -> dict[str, list[str]]:
        return {k: v if isinstance(v, list) else [v] for k, v in self.model_dump().items()}


Params = Annotated[TableParams, Query()]


@dataclass
class Filters:
    """What the page was asked for, as the form shows it again, and what it means."""

    values: dict[str, list[str]]
    errors: list[str] = field(default_factory=list)
    query: PostListQuery | None = None
    campaign_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None

    def one(self, name: str) -> str:
        return (self.values.get(name) or [""])[0]

    def url(self, path: str = "/app/posts", **changes: str | None) -> str:
        """This filter's address, with `changes` (None drops a parameter)."""
        pairs = [(k, v) for k, vs in self.values.items() if k not in changes for v in vs]
        pairs += [(k, v) for k, v in changes.items() if v]
        return path + ("?" + urlencode(pairs) if pairs else "")

    def url_ending_in(self, name: str) -> str:
        """This filter's first page with `name` set to what the caller appends (an id):
        `url(name=value, cursor=None)` built once for a table's rows instead of per row."""
        changes: dict[str, str | None] = {name: None, "cursor": None}
        base = self.url("/app/posts", **changes)
        return f"{base}{'&' if '?' in base else '?'}{name}="

    @property
    def sort(self) -> PostSort:
        return self.query.sort if self.query else PostSort.CREATED_AT_DESC

    def sort_url(self, column: str) -> str:
        """A header's link: by that column, descending first, then the other way."""
        key = SORTABLE[column]
        flip = self.sort.key == key and self.sort.descending
        return self.url(sort=key if flip else f"-{key}", cursor=None)

    def aria_sort(self, column: str) -> str:
        if self.sort.key != SORTABLE[column]:
            return "none"
        return "descending" if self.sort.descending else "ascending"


def _day(filters: Filters, name: str, after: timedelta = timedelta(0)) -> str | None:
    text = filters.one(name)
    if not text:
        return None
    try:
        return (date.fromisoformat(text) + after).isoformat() + "T00:00:00Z"
    except ValueError:
        filters.errors.append(f"{_LABELS[name]}: give a date like 2026-11-30.")
        return None


def _uuid(filters: Filters, name: str, what: str) -> uuid.UUID | None:
    text = filters.one(name)
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        filters.errors.append(f"That {what} is not one of yours; showing every {what}.")
        return None


def _either(api: dict[str, Any], value: str, code: str, has: str) -> None:
    """`hold` / `flag` as the form sends them: a code, `any` or `none`."""
    if value == "any":
        api[has] = True
    elif value == "none":
        api[has] = False
    elif value:
        api[code] = value


def read(params: Mapping[str, list[str]]) -> Filters:
    """The page's parameters as the API's PostListQuery, or what is wrong with them (each a
    sentence for the person; nothing is listed until they are put right)."""
    values = {k: [v for v in params.get(k, []) if v] for k in _FORM}
    filters = Filters({k: v for k, v in values.items() if v})
    filters.campaign_id = _uuid(filters, "campaign_id", "campaign")
    filters.creator_id = _uuid(filters, "creator_id", "creator")
    api: dict[str, Any] = {"limit": PAGE_SIZE, "status": values["status"]}
    for name in ("platform", "q", "sort"):
        if filters.one(name):
            api[name] = filters.one(name)
    if filters.creator_id:
        api["creator_id"] = filters.creator_id
    _either(api, filters.one("hold"), "hold", "has_hold")
    _either(api, filters.one("flag"), "flag", "has_flag")
    api["published_from"] = _day(filters, "published_from")
    api["published_to"] = _day(filters, "published_to", timedelta(days=1))  # inclusive day
    cursor = (params.get("cursor") or [""])[0]
    if cursor:
        api["cursor"] = cursor
    try:
        filters.query = PostListQuery.model_validate(api)
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            label = _LABELS.get(name, name.replace("_", " ").capitalize())
            filters.errors.append(f"{label}: {error['msg']}.")
    if filters.errors:
        filters.query = None
    return filters


@dataclass(frozen=True)
class Bulk:
    """The actions the viewer may take on the listed posts (only those are offered)."""

    tiers: list[Any]
    assign: bool
    clear: bool
    reject: bool
    restore: bool
    refresh: bool
    assign_hint: str | None  # why no tier can be assigned yet, when one could be

    @property
    def any(self) -> bool:
        return self.assign or self.clear or self.reject or self.restore or self.refresh


def _applies(filters: Filters, statuses: frozenset[PostStatus]) -> bool:
    """Whether a post the list shows may be in one of `statuses`: any may, unless the filter
    names statuses and none of them is one (an action no listed post can take is not offered,
    nor are its choices read)."""
    wanted = filters.query.status if filters.query is not None else []
    return not wanted or not statuses.isdisjoint(wanted)


async def _results(
    session: AsyncSession,
    settings: AppSettings,
    me: Viewer,
    filters: Filters,
    known: Mapping[uuid.UUID, Any] | None = None,
) -> dict[str, Any]:
    """A page of the list (the API's query, the API's reach), or the errors that stopped it.
    `known`: campaigns the page has read already (the filter's choices), by id."""
    lines: list[post_rows.Line] = []
    next_cursor = None
    if filters.query is not None:
        try:
            rows, next_cursor = await _page(session, settings, me, filters)
        except InvalidCursor:
            filters.errors.append("That page belongs to other filters: here is the first page.")
            filters.values.pop("cursor", None)
            filters.query = filters.query.model_copy(update={"cursor": None})
            rows, next_cursor = await _page(session, settings, me, filters)
        lines = await _lines(session, me.organization.id, rows, known)
    creator = None
    if filters.creator_id is not None:
        handles = await creators.handles(session, me.organization.id, [filters.creator_id])
        creator = handles.get(filters.creator_id)
    bulk = await _bulk_for(session, me, filters, known)
    return {
        "bulk": bulk,
        "rows": post_rows.rows(lines, filters.url_ending_in("creator_id"), bulk.any),
        "creator_handle": creator,
        "hold_codes": HOLD_CODES + tuple(f.value for f in FlagCode),
        "operation": Operation,
        "filters": filters,
        "lines": lines,
        "next_url": filters.url(cursor=next_cursor) if next_cursor else None,
        "first_url": filters.url(cursor=None) if filters.query and filters.query.cursor else None,
        "csv_url": filters.url("/app/posts.csv", cursor=None),
        "here": filters.url(),
        "results_id": RESULTS,
        "changed": CHANGED,
        "sortable": SORTABLE,
    }


@router.get("/app/posts")
async def posts_table(
    request: Request, session: Session, settings: AppSettings, me: Page, params: Params
) -> Response:
    filters = read(params.as_lists())
    if filters.query is not None and filters.query.cursor:
        filters.values["cursor"] = [filters.query.cursor]
    # The list's own region, when htmx asks for it (a filter, a sort, a page, a reload
    # after an action); a whole page otherwise (a bookmark, a reload, history).
    if request.headers.get("HX-Target") == RESULTS and not request.headers.get(
        "HX-History-Restore-Request"
    ):
        context = await _results(session, settings, me, filters)
        return render(request, "posts_results.html", {"me": me, **context})
    reach = me.principal.within(Action.CAMPAIGN_READ)
    # The campaigns to choose from: the caller's (the API's campaigns_list, first 200); the
    # table's campaign names and the bulk form's campaign are read from them when there.
    shown = await choices.campaigns(request, session, me.organization.id, 200, reach)
    context = await _results(session, settings, me, filters, {c.id: c for c in shown})
    context |= {
        "campaigns": shown,
        "statuses": list(PostStatus),
        "platforms": list(Platform),
        "flag_codes": [f.value for f in FlagCode],
    }
    return await page(request, session, me, "posts.html", context, current="posts")


# The columns a row of the table shows, as the plain read names them.
_SHOWN = tuple(
    (c, c)
    for c in (
        "id",
        "campaign_id",
        "creator_id",
        "platform",
        "platform_post_id",
        "url",
        "published_at",
        "views",
        "likes",
        "comments",
        "shares",
        "status",
        "earnings",
        "rejection_reason",
        "flags",
        "open_holds",
    )
)


async def _page(
    session: AsyncSession, settings: AppSettings, me: Viewer, filters: Filters
) -> tuple[Sequence[Mapping[str, Any]], str | None]:
    """The page's posts, each its columns by name with its creator's `handle`, and the next
    page's cursor: the API's list. A campaign's newest first within the viewer's reach (the
    table as it opens, and every page after) is the API's plain read, with the handles in
    the same statement (the API's `list_page` and a statement for the handles cost ~2.5 ms
    of CPU more a page); any other filter is list_page's, with the handles too."""
    assert filters.query is not None
    org, campaign = me.organization.id, filters.campaign_id
    reach = me.principal.within(Action.CAMPAIGN_READ)
    if campaign is not None and (reach is None or campaign in reach):
        plain = await posts.plain_page(session, org, campaign, filters.query, _SHOWN, handles=True)
        if plain is not None:
            return plain
    settle = timedelta(seconds=settings.change_feed_settle_seconds)
    rows, next_cursor = await posts.list_page(
        session, org, campaign, filters.query, settle, only=reach, handles=True
    )
    # Each row read by name where it stands (a copy of its forty columns cost ~5 µs a row).
    return cast(list[Mapping[str, Any]], [r._mapping for r in rows]), next_cursor


async def _lines(
    session: AsyncSession,
    org: uuid.UUID,
    rows: Sequence[Mapping[str, Any]],
    known: Mapping[uuid.UUID, Any] | None,
) -> list[post_rows.Line]:
    """The table's rows: each post with its campaign's name and currency (from `known` when
    it has them all) and its open holds (a statement only when a post has one). Ids come as
    text from the plain read, as UUIDs from list_page: each campaign's is parsed once, and a
    post's only when it has a hold to look up."""
    campaign_of = {raw: _as_uuid(raw) for raw in {r["campaign_id"] for r in rows}}
    held_ids = {r["id"]: _as_uuid(r["id"]) for r in rows if r["open_holds"]}
    held = await holds.open_for(session, list(held_ids.values()))
    wanted = set(campaign_of.values())
    named: Mapping[uuid.UUID, Any]
    if known is not None and wanted <= known.keys():
        named = known
    else:
        named = await campaigns.by_ids(session, org, wanted)
    lines = []
    for row in rows:
        campaign = named[campaign_of[row["campaign_id"]]]
        post = held_ids.get(row["id"])
        hold_rows = held.get(post, ()) if post is not None else ()
        lines.append(post_rows.Line(row, campaign.name, campaign.currency, hold_rows))
    return lines


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


async def _bulk_for(
    session: AsyncSession,
    me: Viewer,
    filters: Filters,
    known: Mapping[uuid.UUID, Any] | None = None,
) -> Bulk:
    """What the viewer's role allows on the chosen campaign (or on any of theirs), and what a
    post of the statuses listed may take."""
    campaign = None
    if filters.campaign_id is not None:
        campaign = (known or {}).get(filters.campaign_id) or await campaigns.get(
            session, me.organization.id, filters.campaign_id
        )
        if campaign is not None and not me.can("cpm_tiers_list", campaign.id):
            campaign = None  # outside the viewer's reach: as if not chosen
    where = campaign.id if campaign is not None else None

    def can(operation: str) -> bool:
        return me.can(operation, where)

    assignable = can("posts_update") and _applies(filters, lifecycle.TIER_ASSIGNABLE)
    # A tier belongs to one campaign: assigning one needs that campaign chosen.
    tier_rows = await tiers.choices(session, [where]) if assignable and where else []
    hint = None
    if assignable and where is None:
        hint = "Choose a campaign to assign one of its tiers."
    elif assignable and not tier_rows:
        hint = "This campaign has no CPM tiers yet: add one to its tiers first."
    return Bulk(
        tier_rows,
        assign=bool(tier_rows),
        clear=can("posts_holds_clear"),
        reject=can("posts_reject") and _applies(filters, lifecycle.REJECTABLE),
        restore=can("posts_restore") and _applies(filters, lifecycle.RESTORABLE),
        refresh=can("refresh_runs_create"),
        assign_hint=hint,
    )


@router.get("/app/posts.csv")
async def posts_csv(
    request: Request, session: Session, settings: AppSettings, me: Page, params: Params
) -> Response:
    """The filter's posts as the API's CSV (`GET /v1/posts.csv`), every page of them."""
    filters = read(params.as_lists())
    if filters.query is None:  # say what to fix, on the page
        return await posts_table(request, session, settings, me, params)
    body = post_lists.csv_stream(
        request.app.state.read_sessionmaker,
        me.organization.id,
        filters.campaign_id,
        filters.query,
        timedelta(seconds=settings.change_feed_settle_seconds),
        me.principal.within(Action.CAMPAIGN_READ),
    )
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="posts.csv"'},
    )
