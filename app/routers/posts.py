import re
import uuid
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Receive, Scope, Send

from app.auth import Principal
from app.deps import LEAN, Admin, AppSettings, Editor, Session, ShortLinks, Viewer
from app.domain.errors import found
from app.domain.integrity import FlagCode
from app.domain.permissions import Action
from app.domain.policy import Policy
from app.errors import PROBLEM_RESPONSES
from app.metrics import CHANGE_FEED_HOLD_BACK
from app.models import Post
from app.repositories import campaigns, flags, posts, provenance
from app.schemas.common import Cursor, Limit
from app.schemas.posts import (
    HOLD_CODE,
    ClearHoldBody,
    EventPage,
    EvidenceOut,
    FlagOut,
    FlagPage,
    MarkPaidBody,
    PostCreate,
    PostCreateBody,
    PostFilterQuery,
    PostListQuery,
    PostOut,
    PostPage,
    PostSort,
    PostUpdate,
    RejectBody,
    ResolveFlagBody,
    RestoreBody,
)
from app.services import evidence as evidence_service
from app.services import flags as flag_service
from app.services import holds as hold_service
from app.services import post_lists, post_presenter
from app.services import posts as post_service
from app.settings import Settings

router = APIRouter(tags=["posts"], responses=PROBLEM_RESPONSES)

PostQuery = Annotated[PostListQuery, Query()]


async def _one(session: AsyncSession, post: Post) -> PostOut:
    return (await post_presenter.present(session, [post]))[0]


def _settle(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.change_feed_settle_seconds)


HOLD_BACK_HEADER = "Change-Feed-Hold-Back"
# The change feed's answers say how far behind now they stop (see the README's Change feed).
_FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            HOLD_BACK_HEADER: {
                "description": "With sort=updated_at: how many seconds behind now the feed "
                "stops (CHANGE_FEED_SETTLE_SECONDS, or more while a write is open).",
                "schema": {"type": "string", "pattern": r"^\d+\.\d{3}$"},
            }
        }
    }
}


async def _hold_back(
    session: AsyncSession, query: PostListQuery, settings: Settings, response: Response
) -> None:
    if query.sort is not PostSort.UPDATED_AT:
        return
    seconds = await posts.feed_hold_back(session, _settle(settings))
    CHANGE_FEED_HOLD_BACK.set(seconds)
    response.headers[HOLD_BACK_HEADER] = f"{seconds:.3f}"


@router.post("/v1/campaigns/{campaign_id}/posts", status_code=status.HTTP_201_CREATED)
async def posts_create(
    campaign_id: uuid.UUID,
    body: PostCreateBody,
    session: Session,
    who: Editor,
    shortlinks: ShortLinks,
) -> PostOut:
    """Add a video by URL (short links are followed on the platform's own hosts) or by
    platform and platform_post_id. The creator must already be a member of the campaign."""
    request = PostCreate.of(body)
    # First, before this request touches the database: a short link may take seconds.
    ref = await post_service.reference(request, shortlinks, who.organization_id)
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    post = await post_service.create(session, who, campaign, request, ref)
    return await _one(session, post)


@router.get("/v1/campaigns/{campaign_id}/posts", response_model=PostPage, responses=_FEED_RESPONSES)
async def campaign_posts_list(
    campaign_id: uuid.UUID,
    session: Session,
    who: Viewer,
    query: PostQuery,
    settings: AppSettings,
    response: Response,
) -> PostPage | Response:
    plain = await post_presenter.plain_page_json(session, who.organization_id, campaign_id, query)
    if plain is not None:  # the hot case: written straight from the rows (issue 24)
        body, any_posts = plain
        if not any_posts:
            found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
        return Response(body, media_type="application/json")
    rows, next_cursor = await posts.list_page(
        session, who.organization_id, campaign_id, query, _settle(settings)
    )
    await _hold_back(session, query, settings, response)
    if not rows:  # only an empty page needs to tell "no posts" from "no such campaign"
        found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    return PostPage(data=await post_presenter.present(session, rows), next_cursor=next_cursor)


# A campaign's id in its path as FastAPI reads it at least (the lean path takes no other form).
_CANONICAL_ID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_LEAN_PARAMETERS = frozenset({"limit", "cursor"})
_FIRST_PAGE = PostListQuery()


async def _lean_campaign_posts(
    scope: Scope, receive: Receive, send: Send, who: Principal, path: dict[str, Any]
) -> bool:
    """campaign_posts_list's lean path (app.deps.LEAN): the plain list, with at most `limit`
    and `cursor` (each once, not blank) and posts to show. Anything else (another parameter,
    a value the query model refuses, an empty page, a cursor of another list) takes the
    ordinary path, which answers it."""
    text = path.get("campaign_id")
    if not isinstance(text, str) or not _CANONICAL_ID.fullmatch(text):
        return False
    query = _FIRST_PAGE
    if raw := scope.get("query_string", b""):
        given: dict[str, str] = {}
        # As Starlette reads a query string.
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            if name not in _LEAN_PARAMETERS or name in given or not value:
                return False
            given[name] = value
        try:
            query = PostListQuery.model_validate(given)
        except ValidationError:
            return False
    state = scope["app"].state
    async with state.read_sessionmaker() as session:
        plain = await post_presenter.plain_page_json(
            session, who.organization_id, uuid.UUID(text), query
        )
    if plain is None or not plain[1]:
        return False
    await Response(plain[0], media_type="application/json")(scope, receive, send)
    return True


setattr(campaign_posts_list, LEAN, _lean_campaign_posts)


@router.get("/v1/posts", responses=_FEED_RESPONSES)
async def posts_list(
    session: Session,
    who: Viewer,
    query: PostQuery,
    settings: AppSettings,
    response: Response,
    campaign_id: uuid.UUID | None = None,
) -> PostPage:
    """A caller restricted to some campaigns sees their posts only."""
    rows, next_cursor = await posts.list_page(
        session,
        who.organization_id,
        campaign_id,
        query,
        _settle(settings),
        only=who.within(Action.CAMPAIGN_READ),
    )
    await _hold_back(session, query, settings, response)
    return PostPage(data=await post_presenter.present(session, rows), next_cursor=next_cursor)


# The CSV's answer in the API document (an attachment, streamed).
_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "RFC 4180 CSV, UTF-8 with a byte order mark; columns in the README.",
    }
}


@router.get("/v1/posts.csv", response_class=Response, responses=_CSV)
async def posts_export_csv(
    request: Request,
    who: Viewer,
    query: Annotated[PostFilterQuery, Query()],
    settings: AppSettings,
    campaign_id: uuid.UUID | None = None,
) -> Response:
    """Every post `GET /v1/posts` lists with the same filters and sort, as one CSV file (no
    paging: streamed as it is read). Text that a spreadsheet would run as a formula starts
    with `'`, as do all-digit platform ids (kept exact)."""
    body = post_lists.csv_stream(
        request.app.state.read_sessionmaker,
        who.organization_id,
        campaign_id,
        query,
        _settle(settings),
        who.within(Action.CAMPAIGN_READ),
    )
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="posts.csv"'},
    )


@router.get("/v1/posts/{post_id}")
async def posts_get(post_id: uuid.UUID, session: Session, who: Viewer) -> PostOut:
    return await _one(
        session, found(await posts.get(session, who.organization_id, post_id), "post")
    )


@router.patch("/v1/posts/{post_id}")
async def posts_update(
    post_id: uuid.UUID, body: PostUpdate, session: Session, who: Editor
) -> PostOut:
    """Assign (or clear) the CPM tier. A `pending_cpm` post is finalized at once with its
    locked views; a finalized or paid post's tier is locked (409)."""
    return await _one(
        session, await post_service.assign_tier(session, who, post_id, body.cpm_tier_id)
    )


@router.post("/v1/posts/{post_id}/reject")
async def posts_reject(
    post_id: uuid.UUID, body: RejectBody, session: Session, who: Admin
) -> PostOut:
    return await _one(session, await post_service.reject(session, who, post_id, body.reason))


@router.post("/v1/posts/{post_id}/restore")
async def posts_restore(
    post_id: uuid.UUID,
    session: Session,
    who: Admin,
    body: RestoreBody | None = None,
) -> PostOut:
    """Returns a rejected post to the status it was rejected from."""
    reason = body.reason if body else None
    return await _one(session, await post_service.restore(session, who, post_id, reason))


@router.post("/v1/posts/{post_id}/mark-paid")
async def posts_mark_paid(
    post_id: uuid.UUID,
    session: Session,
    who: Admin,
    body: MarkPaidBody | None = None,
) -> PostOut:
    """Mark a finalized post paid (optionally with a payout reference; again with the same
    reference answers the post as it is). 409 `post_has_open_holds` while a hold is open,
    409 `post_in_open_payout` (with `payout_id`) while the post is in an open payout batch:
    that batch pays it, or is cancelled first."""
    reference = body.payout_reference if body else None
    return await _one(session, await post_service.mark_paid(session, who, post_id, reference))


@router.post("/v1/posts/{post_id}/holds/{code}/clear")
async def posts_holds_clear(
    post_id: uuid.UUID,
    code: Annotated[str, Path(pattern=HOLD_CODE)],
    body: ClearHoldBody,
    session: Session,
    who: Admin,
    settings: AppSettings,
) -> PostOut:
    """Clear an open hold, with a reason. When a `held` post's last hold is cleared, the
    decision it waited for is made at once on its locked views (finalized, pending_cpm or
    rejected). A cleared hold is not raised again."""
    post = await hold_service.clear(
        session, who, post_id, code, body.reason, Policy.from_settings(settings)
    )
    return await _one(session, post)


@router.get("/v1/posts/{post_id}/evidence")
async def posts_evidence(post_id: uuid.UUID, session: Session, who: Viewer) -> EvidenceOut:
    """Everything needed to re-derive the post's number from the platform's own answer: each
    decision with the snapshot it used (provider, field read, request and answer times, raw
    answer and its SHA-256), the rules in force, the tier's terms as they were then, the
    arithmetic and the timing; every manual action with who and why; its flags."""
    return await evidence_service.of_post(session, who.organization_id, post_id)


@router.get(
    "/v1/posts/{post_id}/snapshots/{snapshot_id}/raw",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The exact bytes."}},
)
async def posts_snapshot_raw(
    post_id: uuid.UUID,
    snapshot_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: Session,
    who: Viewer,
) -> Response:
    """A snapshot's raw provider answer, byte for byte (its SHA-256 is the snapshot's
    `raw_sha256`). 404 when pruned or never kept."""
    post = found(await posts.get(session, who.organization_id, post_id), "post")
    raw = found(await provenance.raw_answer(session, post.id, snapshot_id), "raw answer")
    return Response(raw, media_type="application/json")


@router.get("/v1/posts/{post_id}/flags")
async def posts_flags(
    post_id: uuid.UUID, session: Session, who: Viewer, cursor: Cursor = None, limit: Limit = 50
) -> FlagPage:
    """Its integrity flags, open and resolved, oldest first."""
    post = found(await posts.get(session, who.organization_id, post_id), "post")
    rows, next_cursor = await flags.page(session, post.id, cursor, limit)
    return FlagPage(data=[FlagOut.model_validate(f) for f in rows], next_cursor=next_cursor)


@router.post("/v1/posts/{post_id}/flags/{code}/resolve")
async def posts_flags_resolve(
    post_id: uuid.UUID,
    code: FlagCode,
    body: ResolveFlagBody,
    session: Session,
    who: Admin,
    settings: AppSettings,
) -> PostOut:
    """Resolve an open flag with a note (a resolved flag is not raised again). If the
    campaign held the post on it, its hold is cleared too, and a `held` post whose last hold
    that was is decided at once."""
    post = await flag_service.resolve(
        session, who, post_id, code.value, body.note, Policy.from_settings(settings)
    )
    return await _one(session, post)


@router.get("/v1/posts/{post_id}/events")
async def posts_events(
    post_id: uuid.UUID, session: Session, who: Viewer, cursor: Cursor = None, limit: Limit = 50
) -> EventPage:
    """Oldest first."""
    post = found(await posts.get(session, who.organization_id, post_id), "post")
    rows, next_cursor = await posts.events(session, post.id, cursor, limit)
    data = await post_presenter.present_events(session, rows)
    return EventPage(data=data, next_cursor=next_cursor)
