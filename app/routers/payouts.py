"""Payouts: what is ready to pay, batches of posts paid together, and the CSV files to pay
from. Only admins make, pay and cancel batches; any key reads them."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.deps import Admin, AppSettings, Session, Viewer
from app.domain.errors import found
from app.domain.permissions import Action
from app.errors import PROBLEM_RESPONSES
from app.repositories import payouts
from app.schemas.payouts import (
    CreatorTotal,
    CreatorTotalPage,
    PayoutCreate,
    PayoutDetail,
    PayoutListQuery,
    PayoutMarkPaid,
    PayoutPage,
    PayoutPulse,
    ReadyPost,
    ReadyPostPage,
    ReadyPostQuery,
    ReadyQuery,
)
from app.services import payout_exports, payout_workbook
from app.services import payouts as payout_service

router = APIRouter(prefix="/v1/payouts", tags=["payouts"], responses=PROBLEM_RESPONSES)

_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "RFC 4180 CSV, UTF-8 with a byte order mark.",
    }
}


_XLSX: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {payout_workbook.MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        "description": "An Office Open XML workbook: sheets Summary, Posts and Payout.",
    }
}


def _csv(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/ready")
async def payouts_ready(
    session: Session, who: Viewer, query: Annotated[ReadyQuery, Query()]
) -> CreatorTotalPage:
    """Finalized, unpaid posts with no open hold and in no open payout, summed per creator
    and currency (currencies are never added together)."""
    rows, next_cursor = await payouts.ready_page(
        session,
        who.organization_id,
        query,
        query.cursor,
        query.limit,
        only=who.within(Action.CAMPAIGN_READ),
    )
    return CreatorTotalPage(
        data=[CreatorTotal.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/ready/posts")
async def payouts_ready_posts(
    session: Session, who: Viewer, query: Annotated[ReadyPostQuery, Query()]
) -> ReadyPostPage:
    """The posts behind the lines of `GET /v1/payouts/ready`, in its order (creator,
    currency), then by post id; `creator_id` and `currency` give one line's."""
    rows, next_cursor = await payouts.ready_posts(
        session,
        who.organization_id,
        query,
        query.currency,
        query.cursor,
        query.limit,
        only=who.within(Action.CAMPAIGN_READ),
    )
    return ReadyPostPage(data=[ReadyPost.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/pulse")
async def payouts_pulse(session: Session, who: Viewer) -> PayoutPulse:
    """Where the money stands: posts waiting for a tier, and per currency what is ready to
    pay, what open batches hold and what was paid this month (UTC)."""
    return await payout_service.pulse(
        session, who.organization_id, only=who.within(Action.CAMPAIGN_READ)
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def payouts_create(
    body: PayoutCreate, session: Session, who: Admin, settings: AppSettings
) -> PayoutDetail:
    """A batch of the selected ready posts, with their amounts fixed now. A post is in at
    most one open batch. Send `Idempotency-Key` to retry safely."""
    payout = await payout_service.create(session, settings, who, body)
    return await payout_service.detail(session, payout)


@router.get("")
async def payouts_list(
    session: Session, who: Viewer, query: Annotated[PayoutListQuery, Query()]
) -> PayoutPage:
    rows, next_cursor = await payouts.list_page(
        session,
        who.organization_id,
        query.status,
        query.cursor,
        query.limit,
        only=who.within(Action.CAMPAIGN_READ),
    )
    return PayoutPage(
        data=await payout_service.present(session, list(rows)), next_cursor=next_cursor
    )


@router.get("/{payout_id}")
async def payouts_get(payout_id: uuid.UUID, session: Session, who: Viewer) -> PayoutDetail:
    payout = found(
        await payouts.get(
            session, who.organization_id, payout_id, only=who.within(Action.CAMPAIGN_READ)
        ),
        "payout",
    )
    return await payout_service.detail(session, payout)


@router.post("/{payout_id}/mark-paid")
async def payouts_mark_paid(
    payout_id: uuid.UUID, body: PayoutMarkPaid, session: Session, who: Admin
) -> PayoutDetail:
    """Marks every post of the batch paid in one transaction, or none (409
    `payout_posts_not_payable` names the posts that stopped it). Again with the same
    reference: 200, nothing changes; with another: 409 `payout_already_paid`."""
    payout = await payout_service.mark_paid(session, who, payout_id, body.payout_reference)
    return await payout_service.detail(session, payout)


@router.post("/{payout_id}/cancel")
async def payouts_cancel(payout_id: uuid.UUID, session: Session, who: Admin) -> PayoutDetail:
    """Releases an unpaid batch: its posts are ready to pay again. Cancelling a cancelled
    batch answers 200."""
    payout = await payout_service.cancel(session, who, payout_id)
    return await payout_service.detail(session, payout)


@router.get("/{payout_id}/export.csv", response_class=Response, responses=_CSV)
async def payouts_export_csv(
    payout_id: uuid.UUID, session: Session, who: Viewer, settings: AppSettings
) -> Response:
    """One line per post: who to pay, for which video, how much, and the evidence's URL
    (absolute under `PUBLIC_BASE_URL` when it is set, else the path `/v1/posts/{id}/evidence`;
    never built from the request's Host header)."""
    payout = found(
        await payouts.get(
            session, who.organization_id, payout_id, only=who.within(Action.CAMPAIGN_READ)
        ),
        "payout",
    )
    rows = await payouts.export_rows(session, payout.id)
    base = settings.public_base_url or ""
    return _csv(payout_exports.export_csv(rows, base), f"payout-{payout.id}.csv")


@router.get("/{payout_id}/summary.csv", response_class=Response, responses=_CSV)
async def payouts_summary_csv(payout_id: uuid.UUID, session: Session, who: Viewer) -> Response:
    """One line per creator and currency."""
    payout = found(
        await payouts.get(
            session, who.organization_id, payout_id, only=who.within(Action.CAMPAIGN_READ)
        ),
        "payout",
    )
    rows = await payouts.creator_totals(session, payout.id)
    return _csv(payout_exports.summary_csv(rows), f"payout-{payout.id}-summary.csv")


@router.get("/{payout_id}/export.xlsx", response_class=Response, responses=_XLSX)
async def payouts_export_xlsx(
    payout_id: uuid.UUID, session: Session, who: Viewer, settings: AppSettings
) -> Response:
    """The batch as a workbook for a spreadsheet (Excel, LibreOffice, Numbers, Google
    Sheets): a Summary sheet per creator and currency, a Posts sheet with export.csv's
    columns, and the batch itself. Ids are text cells (exact, no apostrophe), money numbers
    with two decimals and the currency in their format, times dates (UTC); text that looks
    like a formula stays text."""
    payout = found(
        await payouts.get(
            session, who.organization_id, payout_id, only=who.within(Action.CAMPAIGN_READ)
        ),
        "payout",
    )
    body = await payout_workbook.for_payout(session, payout, settings.public_base_url or "")
    return Response(
        body,
        media_type=payout_workbook.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="payout-{payout.id}.xlsx"'},
    )
