"""The one endpoint through which any dashboard page acts on posts: `POST /app/posts/act`
with an operation, the posts (`post_id`, repeated) and what the API asks for with it. Each
operation is the API's: the same service, authorized per post under the API's operation id
by the API's permission table (app.web.actions), with its body checked by the API's own
schema. The answer is a fragment with each post's outcome, and an `HX-Trigger` so the lists
on the page reload when anything changed."""

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.deps import AppSettings, Session
from app.domain.errors import DomainError
from app.domain.integrity import FlagCode
from app.domain.policy import Policy
from app.errors import ApiError
from app.repositories import runs
from app.schemas.posts import (
    HOLD_CODE,
    ClearHoldBody,
    PostUpdate,
    RejectBody,
    ResolveFlagBody,
    RestoreBody,
)
from app.schemas.runs import RunCreate
from app.services import flags as flag_service
from app.services import holds as hold_service
from app.services import posts as post_service
from app.services import refreshes
from app.web import actions
from app.web.actions import Outcome
from app.web.layout import Page
from app.web.templating import render

router = APIRouter()

# What the page listens for (hx-trigger="posts-changed from:body") to reload its lists.
CHANGED = "posts-changed"


class Operation(StrEnum):
    ASSIGN_TIER = "assign_tier"
    CLEAR_HOLD = "clear_hold"
    RESOLVE_FLAG = "resolve_flag"
    REJECT = "reject"
    RESTORE = "restore"
    REFRESH = "refresh"


# Each dashboard operation is this API operation (its permission and audit record).
API_OPERATION = {
    Operation.ASSIGN_TIER: "posts_update",
    Operation.CLEAR_HOLD: "posts_holds_clear",
    Operation.RESOLVE_FLAG: "posts_flags_resolve",
    Operation.REJECT: "posts_reject",
    Operation.RESTORE: "posts_restore",
    Operation.REFRESH: "refresh_runs_create",
}

# The most posts one request acts on: a refresh run's bound (RunCreate.post_ids), for all.
MAX_POSTS = 1000


M = TypeVar("M", bound=BaseModel)


class Unfit(Exception):
    """The request cannot be acted on as sent; the message says what to fix."""


def _checked(model: type[M], what: str, **fields: object) -> M:
    """The API's request schema, applied to the form's fields: the same bounds, and the
    first complaint in words."""
    try:
        return model(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        value = fields.get(str(error["loc"][0])) if error["loc"] else None
        if isinstance(value, str) and not value.strip():
            raise Unfit(f"Give {what}.") from None
        raise Unfit(f"{what[:1].upper()}{what[1:]}: {error['msg']}.") from None


def _post_ids(values: list[str]) -> list[uuid.UUID]:
    if not values:
        raise Unfit("Choose at least one post.")
    if len(values) > MAX_POSTS:
        raise Unfit(f"Choose at most {MAX_POSTS:,} posts at once.")
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            raise Unfit("That is not a post id.") from None
    return ids


@dataclass(frozen=True)
class Fields:
    """What the form sent with the operation."""

    reason: str
    note: str
    cpm_tier_id: str
    code: str


def _each_post(
    session: AsyncSession, who: Principal, operation: Operation, form: Fields, policy: Policy
) -> tuple[Callable[[uuid.UUID], Awaitable[object]], dict[str, str]]:
    """What to do to each post, and what its audit record adds (the API's path names the
    code)."""
    if operation is Operation.ASSIGN_TIER:
        if not form.cpm_tier_id:
            raise Unfit("Choose a tier.")
        tier_id = _checked(PostUpdate, "the tier", cpm_tier_id=form.cpm_tier_id).cpm_tier_id
        return (lambda post_id: post_service.assign_tier(session, who, post_id, tier_id)), {}
    if operation is Operation.CLEAR_HOLD:
        if not re.fullmatch(HOLD_CODE, form.code):
            raise Unfit("Name the hold to clear.")
        reason = _checked(ClearHoldBody, "a reason", reason=form.reason).reason
        code = form.code
        return (lambda post_id: hold_service.clear(session, who, post_id, code, reason, policy)), {
            "code": code
        }
    if operation is Operation.RESOLVE_FLAG:
        try:
            flag = FlagCode(form.code)
        except ValueError:
            raise Unfit("Name the flag to resolve.") from None
        note = _checked(ResolveFlagBody, "a note", note=form.note).note
        return (
            lambda post_id: flag_service.resolve(session, who, post_id, flag.value, note, policy)
        ), {"code": flag.value}
    if operation is Operation.REJECT:
        reason = _checked(RejectBody, "a reason", reason=form.reason).reason
        return (lambda post_id: post_service.reject(session, who, post_id, reason)), {}
    assert operation is Operation.RESTORE
    restore = _checked(RestoreBody, "a reason", reason=form.reason or None)
    return (lambda post_id: post_service.restore(session, who, post_id, restore.reason)), {}


async def _refresh(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    settings: AppSettings,
    me: Page,
    post_ids: list[uuid.UUID],
) -> list[Outcome]:
    """refresh_runs_create, authorized per post: one run per campaign (so a member sees it
    among the runs of their campaign), each in a savepoint."""
    _checked(RunCreate, "the posts", post_ids=post_ids)
    operation = API_OPERATION[Operation.REFRESH]
    allowed, refused = await actions.authorize(session, me.principal, operation, post_ids)
    by_campaign: dict[uuid.UUID, list[uuid.UUID]] = {}
    for post_id, campaign_id in allowed.items():
        by_campaign.setdefault(campaign_id, []).append(post_id)
    done: dict[uuid.UUID, Outcome] = {}
    for campaign_id, ids in by_campaign.items():
        try:
            async with session.begin_nested():
                run, platforms = await refreshes.start(
                    session,
                    me.principal.organization_id,
                    runs.RunScope(campaign_id=campaign_id, post_ids=ids),
                    settings,
                )
        except (DomainError, ApiError) as exc:
            done |= {post_id: Outcome(post_id, False, exc.detail) for post_id in ids}
            continue
        background.add_task(refreshes.kick, request.app.state.arq, platforms)
        message = (
            f"Refresh queued ({run.queued:,} to fetch"
            + (f", {run.skipped_recent:,} fetched moments ago" if run.skipped_recent else "")
            + ")."
        )
        done |= {post_id: Outcome(post_id, True, message) for post_id in ids}
    return [done.get(post_id) or refused[post_id] for post_id in dict.fromkeys(post_ids)]


@router.post("/app/posts/act")
async def act(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    settings: AppSettings,
    me: Page,
    operation: Annotated[str, Form()] = "",
    post_id: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    cpm_tier_id: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    """Answers 200 with the outcomes (or what to fix in the request: nothing was done)."""
    outcomes: list[Outcome] = []
    error = ""
    try:
        try:
            chosen = Operation(operation)
        except ValueError:
            raise Unfit("Choose what to do.") from None
        ids = _post_ids(post_id or [])
        if chosen is Operation.REFRESH:
            outcomes = await _refresh(request, background, session, settings, me, ids)
        else:
            fields = Fields(reason, note, cpm_tier_id, code)
            policy = Policy.from_settings(settings)
            do, details = _each_post(session, me.principal, chosen, fields, policy)
            outcomes = await actions.on_posts(
                request, session, me.principal, API_OPERATION[chosen], ids, do, details
            )
    except Unfit as exc:
        error = str(exc)
    headers = {"HX-Trigger": CHANGED} if any(o.done for o in outcomes) else None
    context = {"outcomes": outcomes, "error": error}
    return render(request, "_outcomes.html", context, headers=headers)
