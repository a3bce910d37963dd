"""Payments at /app/payments: where the money stands (the API's `payouts_pulse`), what is
ready to pay per creator and currency (`payouts_ready`) with the posts behind each line
(`payouts_ready_posts`, fetched when the line is opened or selected: a page of lines then
costs what the API's page of lines costs), a batch made of the selected posts or of everything ready
(`payouts_create`), and the batches by state (`payouts_list`) with their files (the API's
own export.csv, summary.csv and export.xlsx, which the session cookie reads), paid with a
reference (`payouts_mark_paid`) or cancelled (`payouts_cancel`). Every read is the API's
query with the API's scope; every change goes through app.web.actions under the API's
operation id, by the API's service."""

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AppSettings, Session
from app.domain.enums import PayoutStatus
from app.domain.errors import DomainError
from app.domain.permissions import Action
from app.errors import ApiError
from app.models import Payout
from app.repositories import payouts
from app.schemas.payouts import (
    PAYOUT_POST_IDS_MAX,
    CreatorTotal,
    PayoutCreate,
    PayoutMarkPaid,
    ReadyFilters,
    ReadyPost,
)
from app.services import payouts as payout_service
from app.web import actions, choices
from app.web.layout import Page, Viewer, page
from app.web.session import go_to
from app.web.templating import render

router = APIRouter()

LINES = 25  # ready lines a page shows (the API's page of `payouts_ready`, keyset-paged)
BATCHES = 20
# The posts shown behind each line: at most what one batch of chosen posts takes
# (PayoutCreate.post_ids), so every post of one line can be selected at once. Lines are
# capped one by one, so several open lines can show more than a batch takes: the form says
# so, and the API refuses such a batch (a batch of everything ready has no such limit).
POSTS_SHOWN = PAYOUT_POST_IDS_MAX
_CAMPAIGNS = 100
STATES = (PayoutStatus.OPEN, PayoutStatus.PAID, PayoutStatus.CANCELLED)

# What the page says after an action sent the browser back to it (a fixed word, never text
# from the request).
DONE = {
    "made": "Batch made: its posts are no longer ready to pay, and no other batch can take them.",
    "paid": "Batch marked paid: each of its posts is paid, with the reference.",
    "cancelled": "Batch cancelled: its posts are ready to pay again.",
}


class Unfit(Exception):
    """What to put right before anything can be done; nothing was."""


def _filters(campaign_id: str) -> ReadyFilters:
    try:
        return ReadyFilters.model_validate({"campaign_id": campaign_id or None})
    except ValidationError:
        return ReadyFilters()


async def _ready(
    session: AsyncSession, me: Viewer, filters: ReadyFilters, cursor: str | None
) -> tuple[list[CreatorTotal], str | None]:
    """A page of ready lines as `GET /v1/payouts/ready` answers them."""
    org, only = me.principal.organization_id, me.principal.within(Action.CAMPAIGN_READ)
    rows, next_cursor = await payouts.ready_page(session, org, filters, cursor, LINES, only=only)
    return [CreatorTotal.model_validate(r) for r in rows], next_cursor


async def _context(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    *,
    campaign_id: str = "",
    cursor: str | None = None,
    state: str = "open",
    batches_cursor: str | None = None,
    done: str = "",
    payout_id: str = "",
) -> dict[str, Any]:
    org, only = me.principal.organization_id, me.principal.within(Action.CAMPAIGN_READ)
    if not me.can("payouts_list"):
        return {"readable": False}
    chosen = next((s for s in STATES if s.value == state), PayoutStatus.OPEN)
    filters = _filters(campaign_id)
    lines, more_lines = await _ready(session, me, filters, cursor)
    rows, older = await payouts.list_page(session, org, chosen, batches_cursor, BATCHES, only=only)
    campaign_rows = await choices.campaigns(request, session, org, _CAMPAIGNS, only)
    return {
        "readable": True,
        "pulse": await payout_service.pulse(session, org, only=only),
        "campaigns": campaign_rows,
        "campaign_id": str(filters.campaign_id or ""),
        "lines": lines,
        "more_lines": more_lines,
        "states": STATES,
        "state": chosen,
        "batches": await payout_service.present(session, list(rows)),
        "older": older,
        "done": DONE.get(done, ""),
        "highlight": payout_id,
        "can_create": me.can("payouts_create"),
        "posts_shown": POSTS_SHOWN,
        "can_pay": me.can("payouts_mark_paid"),
        "can_cancel": me.can("payouts_cancel"),
    }


@router.get("/app/payments")
async def payments_page(
    request: Request,
    session: Session,
    me: Page,
    campaign_id: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    state: Annotated[str, Query(max_length=20)] = "open",
    batches_cursor: Annotated[str | None, Query(max_length=500)] = None,
    done: Annotated[str, Query(max_length=20)] = "",
    payout: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    try:
        context = await _context(
            request,
            session,
            me,
            campaign_id=campaign_id,
            cursor=cursor,
            state=state,
            batches_cursor=batches_cursor,
            done=done,
            payout_id=payout,
        )
    except DomainError as exc:  # a cursor from another list: start that list over
        context = await _context(request, session, me, state=state, campaign_id=campaign_id)
        context["error"] = exc.detail
    return await page(request, session, me, "payments.html", context, current="payments")


@router.get("/app/payments/lines/{creator_id:uuid}/{currency}")
async def line_posts(
    request: Request,
    creator_id: uuid.UUID,
    currency: str,
    session: Session,
    me: Page,
    campaign_id: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The posts behind one ready line (the page's filter applied), as
    `GET /v1/payouts/ready/posts?creator_id=&currency=` answers them: the fragment a line
    swaps in when it is opened or selected, each post a box of the batch form."""
    posts: list[ReadyPost] = []
    more = None
    if me.can("payouts_list") and CURRENCY.fullmatch(currency):
        org, only = me.principal.organization_id, me.principal.within(Action.CAMPAIGN_READ)
        filters = _filters(campaign_id).model_copy(update={"creator_id": creator_id})
        rows, more = await payouts.ready_posts(
            session, org, filters, currency, None, POSTS_SHOWN, only=only
        )
        posts = [ReadyPost.model_validate(r) for r in rows]
    context = {"posts": posts, "complete": more is None, "posts_shown": POSTS_SHOWN}
    context["readable"] = me.can("payouts_list")
    context["can_create"] = me.can("payouts_create")
    return render(request, "payments_line.html", context)


CURRENCY = re.compile("[A-Z]{3}")


def _outcome(request: Request, message: str) -> Response:
    """What stopped an action, in the page's outcome region (200: put right here)."""
    return render(request, "payments_outcome.html", {"error": message})


async def _act(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    operation: str,
    do: Callable[[], Awaitable[Payout]],
    then: Callable[[Payout], str],
    details: dict[str, str] | None = None,
) -> Response:
    try:
        payout = await actions.on_org(
            request, session, me.principal, operation, do, lambda p: p.id, details
        )
    except Unfit as exc:
        return _outcome(request, str(exc))
    except (DomainError, ApiError) as exc:
        return _outcome(request, exc.detail)
    return go_to(request, then(payout))


def _post_ids(values: list[str]) -> list[uuid.UUID]:
    if not values:
        raise Unfit("Select at least one post (or a creator's line).")
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        raise Unfit("That is not a post id.") from None


@router.post("/app/payments/batches")
async def make_batch(
    request: Request,
    session: Session,
    settings: AppSettings,
    me: Page,
    what: Annotated[str, Form(max_length=20)] = "selected",
    campaign_id: Annotated[str, Form(max_length=64)] = "",
    post_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """`payouts_create` with the selected posts, or with the page's filter (everything ready,
    in the chosen campaign if one is)."""

    async def do() -> Payout:
        try:
            if what == "everything":
                body = PayoutCreate.model_validate({"campaign_id": campaign_id or None})
            else:
                body = PayoutCreate.model_validate({"post_ids": _post_ids(post_id or [])})
        except ValidationError as exc:
            raise Unfit(f"The selection: {exc.errors()[0]['msg']}.") from None
        return await payout_service.create(session, settings, me.principal, body)

    return await _act(
        request,
        session,
        me,
        "payouts_create",
        do,
        lambda p: f"/app/payments?state=open&done=made&payout={p.id}#batch-{p.id}",
    )


@router.post("/app/payments/batches/{payout_id:uuid}/mark-paid")
async def mark_paid(
    request: Request,
    payout_id: uuid.UUID,
    session: Session,
    me: Page,
    payout_reference: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    async def do() -> Payout:
        try:
            reference = PayoutMarkPaid(payout_reference=payout_reference).payout_reference
        except ValidationError:
            raise Unfit("Give the payment's reference (up to 200 characters).") from None
        return await payout_service.mark_paid(session, me.principal, payout_id, reference)

    return await _act(
        request,
        session,
        me,
        "payouts_mark_paid",
        do,
        lambda p: f"/app/payments?state=paid&done=paid&payout={p.id}#batch-{p.id}",
        {"payout_id": str(payout_id)},
    )


@router.post("/app/payments/batches/{payout_id:uuid}/cancel")
async def cancel(request: Request, payout_id: uuid.UUID, session: Session, me: Page) -> Response:
    return await _act(
        request,
        session,
        me,
        "payouts_cancel",
        lambda: payout_service.cancel(session, me.principal, payout_id),
        lambda p: f"/app/payments?state=cancelled&done=cancelled&payout={p.id}#batch-{p.id}",
        {"payout_id": str(payout_id)},
    )
