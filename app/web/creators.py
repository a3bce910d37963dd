"""Creators (/app/creators): the list as `GET /v1/creators` answers it (searched by the
start of a handle, `q`), a creator added (`creators_create`, whose answer shows the creator's
access code this once), and a creator's page: their latest posts (the post list's query,
`creator_id`), their rename history (`creators_history`) and a new portal access code
(`creators_access_code_rotate`, shown in the answer that made it and never again), beside
the portal's address. Each as the API authorizes the same person: a member of some
campaigns lists their campaigns' creators and is refused the rest, as the API refuses them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AppSettings, Session
from app.domain import watching
from app.domain.enums import Platform
from app.domain.errors import DomainError, InvalidCursor
from app.domain.permissions import Action
from app.errors import ApiError
from app.models import Creator
from app.repositories import creators, posts
from app.repositories import watched_accounts as watch_repo
from app.schemas.creators import CreatorCreate
from app.schemas.posts import PostListQuery
from app.schemas.watched_accounts import WatchCreate, WatchUpdate
from app.services import creators as creator_service
from app.services import post_lists
from app.services import watched_accounts as watch_service
from app.settings import Settings
from app.web import actions
from app.web.actions import Refused
from app.web.forms import Form as Fields
from app.web.forms import Invalid, blank_none, checked, refusing
from app.web.layout import Page, Viewer, page
from app.web.post_page import not_found

router = APIRouter()

_PAGE = 50
_LATEST_POSTS = 10  # the page shows the newest; the posts table shows them all
_SEARCH_MAX = 100  # the API's bound on `q`


async def _list_page(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    *,
    q: str = "",
    platform: str = "",
    cursor: str = "",
    form: Fields | None = None,
) -> Response:
    org = me.principal.organization_id
    search = q.strip()[:_SEARCH_MAX].replace("\x00", "")
    try:
        chosen = Platform(platform) if platform else None
    except ValueError:
        chosen = None
    rows: list[Creator] = []
    next_cursor = None
    if me.can("creators_list"):
        only = me.principal.within(Action.CAMPAIGN_READ)
        args = (session, org, chosen, None)
        try:
            found, next_cursor = await creators.list_page(
                *args, cursor or None, _PAGE, only=only, q=search or None
            )
        except InvalidCursor:  # a stale link: start over
            found, next_cursor = await creators.list_page(
                *args, None, _PAGE, only=only, q=search or None
            )
        rows = list(found)
    context = {
        "creators": rows,
        "next_cursor": next_cursor,
        "q": search,
        "platform": chosen.value if chosen else "",
        "platforms": list(Platform),
        "paged": bool(cursor),
        "form": form or Fields({"platform": "tiktok"}),
    }
    return await page(request, session, me, "creators.html", context, current="creators")


@router.get("/app/creators")
async def creators_page(
    request: Request,
    session: Session,
    me: Page,
    q: str = "",
    platform: str = "",
    cursor: str = "",
) -> Response:
    return await _list_page(request, session, me, q=q, platform=platform, cursor=cursor)


@router.post("/app/creators")
async def creator_create(
    request: Request,
    session: Session,
    me: Page,
    settings: AppSettings,
    platform: Annotated[str, Form()] = "",
    handle: Annotated[str, Form()] = "",
    platform_user_id: Annotated[str, Form()] = "",
) -> Response:
    """`creators_create`; the answer is the creator's page with their access code, shown
    this once (the address bar moves to the page, which never shows it again)."""
    sent = {"platform": platform, "handle": handle, "platform_user_id": platform_user_id}
    try:
        body = checked(
            CreatorCreate,
            {**sent, "platform_user_id": blank_none(platform_user_id)},
            sent,
        )

        async def create() -> tuple[Creator, str]:
            org = me.principal.organization_id
            return await creator_service.create(session, org, body.model_dump())

        creator, code = await refusing(
            sent, actions.on_org(request, session, me.principal, "creators_create", create)
        )
    except Invalid as exc:
        return await _list_page(request, session, me, form=exc.form)
    answer = await _creator_page(request, session, me, settings, creator.id, code=code)
    answer.headers["HX-Push-Url"] = f"/app/creators/{creator.id}"
    return answer


async def _creator_page(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    settings: Settings,
    creator_id: uuid.UUID,
    *,
    code: str = "",
    problem: str = "",
    renames_cursor: str = "",
) -> Response:
    """The page `GET /v1/creators/{id}` opens to the same person (a member of only some
    campaigns is refused it there, so it is not offered here either); `code`: a new access
    code, in the answer that made it."""
    org = me.principal.organization_id
    creator = await creators.get(session, org, creator_id) if me.can("creators_get") else None
    if creator is None:
        return await not_found(request, session, me, "creator")
    try:
        renames, next_renames = await creators.renames_page(
            session, creator.id, renames_cursor or None, _PAGE
        )
    except InvalidCursor:
        renames, next_renames = await creators.renames_page(session, creator.id, None, _PAGE)
    query = PostListQuery(creator_id=creator.id, limit=_LATEST_POSTS)
    rows, more = await posts.list_page(
        session, org, None, query, only=me.principal.within(Action.CAMPAIGN_READ)
    )
    only = me.principal.within(Action.CAMPAIGN_READ)
    watches = [
        {
            "watch": w,
            "campaign": name,
            "may_edit": me.can("watched_accounts_update", w.campaign_id),
            "skipped": sum((w.skipped or {}).values()),
        }
        for w, name in await watch_repo.for_creator(session, org, creator.id, only)
    ]
    watchable = [
        (cid, name)
        for cid, name in await watch_repo.unwatched_memberships(session, org, creator.id, only)
        if me.can("watched_accounts_create", cid)
    ]
    context = {
        "creator": creator,
        "watches": watches,
        "watchable": watchable,
        "import_sizes": watching.INITIAL_IMPORT_SIZES,
        "renames": renames,
        "next_renames": next_renames,
        "posts": await post_lists.present(session, org, rows),
        "more_posts": more is not None,
        "code": code,
        "problem": problem,
        "portal": _portal(request, settings),
        "may_issue": me.can("creators_access_code_rotate"),
    }
    return await page(request, session, me, "creators_page.html", context, current="creators")


def _portal(request: Request, settings: Settings) -> str:
    """The portal's address to give a creator: under PUBLIC_BASE_URL when it is set, else
    where this person reached the dashboard (shown to them only, never sent anywhere)."""
    base = settings.public_base_url or str(request.base_url)
    return f"{base.rstrip('/')}/portal"


@router.get("/app/creators/{creator_id:uuid}")
async def creator_page(
    request: Request,
    creator_id: uuid.UUID,
    session: Session,
    me: Page,
    settings: AppSettings,
    renames_cursor: str = "",
) -> Response:
    return await _creator_page(
        request, session, me, settings, creator_id, renames_cursor=renames_cursor
    )


@router.post("/app/creators/{creator_id:uuid}/access-code")
async def creator_access_code(
    request: Request, creator_id: uuid.UUID, session: Session, me: Page, settings: AppSettings
) -> Response:
    """`creators_access_code_rotate`: the new code in this answer only; the old one stops
    working."""
    org = me.principal.organization_id

    async def issue() -> tuple[Creator, str]:
        return await creator_service.new_access_code(session, org, creator_id)

    try:
        _, code = await actions.on_org(
            request,
            session,
            me.principal,
            "creators_access_code_rotate",
            issue,
            lambda _: creator_id,
        )
    except Refused as exc:
        return await _creator_page(request, session, me, settings, creator_id, problem=exc.detail)
    except DomainError:  # another organization's creator, or none: as the API's 404
        return await not_found(request, session, me, "creator")
    return await _creator_page(request, session, me, settings, creator_id, code=code)


def _tags(text: str) -> list[str]:
    """Hashtags as typed in one box: separated by spaces or commas."""
    return [t for t in text.replace(",", " ").split() if t]


async def _watch_refused(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    settings: Settings,
    creator_id: uuid.UUID,
    exc: Exception,
) -> Response:
    if isinstance(exc, Invalid):
        form = exc.form
        problem = form.message or "; ".join(f"{k}: {v}" for k, v in form.errors.items())
    else:
        problem = getattr(exc, "detail", str(exc))
    return await _creator_page(request, session, me, settings, creator_id, problem=problem)


@router.post("/app/creators/{creator_id:uuid}/watches")
async def creator_watch(
    request: Request,
    creator_id: uuid.UUID,
    session: Session,
    me: Page,
    settings: AppSettings,
    campaign_id: Annotated[str, Form()] = "",
    initial_import: Annotated[str, Form()] = "0",
    include_hashtags: Annotated[str, Form()] = "",
    exclude_hashtags: Annotated[str, Form()] = "",
) -> Response:
    """`watched_accounts_create`: watch the creator's account in one of their campaigns."""
    org = me.principal.organization_id
    sent = {
        "campaign_id": campaign_id,
        "initial_import": initial_import,
        "include_hashtags": include_hashtags,
        "exclude_hashtags": exclude_hashtags,
    }
    try:
        campaign = uuid.UUID(campaign_id)
    except ValueError:
        return await _creator_page(
            request, session, me, settings, creator_id, problem="Choose a campaign."
        )
    try:
        body = checked(
            WatchCreate,
            {
                "creator_id": creator_id,
                "initial_import": int(initial_import) if initial_import.isdigit() else -1,
                "include_hashtags": _tags(include_hashtags),
                "exclude_hashtags": _tags(exclude_hashtags),
            },
            sent,
        )

        async def create() -> object:
            return await watch_service.create(session, org, campaign, body)

        await refusing(
            sent,
            actions.on_campaign(
                request, session, me.principal, "watched_accounts_create", campaign, create
            ),
        )
    except (Invalid, DomainError, ApiError) as exc:
        return await _watch_refused(request, session, me, settings, creator_id, exc)
    return await _creator_page(request, session, me, settings, creator_id)


@router.post("/app/creators/{creator_id:uuid}/watches/{watch_id:uuid}")
async def creator_watch_update(
    request: Request,
    creator_id: uuid.UUID,
    watch_id: uuid.UUID,
    session: Session,
    me: Page,
    settings: AppSettings,
    change: Annotated[str, Form()] = "",
    include_hashtags: Annotated[str, Form()] = "",
    exclude_hashtags: Annotated[str, Form()] = "",
) -> Response:
    """`watched_accounts_update`: pause, enable, or change the filters."""
    org = me.principal.organization_id
    watch = await watch_repo.get_in_org(session, org, watch_id)
    if watch is None or watch.creator_id != creator_id:
        return await not_found(request, session, me, "watched account")
    sent = {"include_hashtags": include_hashtags, "exclude_hashtags": exclude_hashtags}
    values: dict[str, object]
    if change in ("pause", "enable"):
        values = {"enabled": change == "enable"}
    else:
        values = {
            "include_hashtags": _tags(include_hashtags),
            "exclude_hashtags": _tags(exclude_hashtags),
        }
    campaign = watch.campaign_id
    try:
        body = checked(WatchUpdate, values, sent)

        async def update() -> object:
            return await watch_service.update(session, org, campaign, watch_id, body)

        await refusing(
            sent,
            actions.on_campaign(
                request, session, me.principal, "watched_accounts_update", campaign, update
            ),
        )
    except (Invalid, DomainError, ApiError) as exc:
        return await _watch_refused(request, session, me, settings, creator_id, exc)
    return await _creator_page(request, session, me, settings, creator_id)
