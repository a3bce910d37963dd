"""Payout batches: made from what is ready to pay, paid or cancelled as a whole. Each action
locks the batch row first, so concurrent calls on one batch run one after the other, and
repeating an action that already happened answers what it did."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.domain.enums import PayoutStatus, PostStatus
from app.domain.errors import Conflict, found
from app.domain.permissions import Action
from app.domain.transitions import Transition
from app.models import Payout
from app.repositories import payouts
from app.repositories import transitions as transition_rows
from app.schemas.payouts import (
    CreatorTotal,
    CurrencyTotal,
    PayoutCreate,
    PayoutDetail,
    PayoutOut,
    PayoutPulse,
    PayoutSelection,
    PendingCpm,
    ReadyFilters,
)
from app.services import transitions
from app.settings import Settings
from app.webhooks import outbox
from app.webhooks.events import EventType


def _selection(body: PayoutCreate) -> dict[str, object]:
    if body.post_ids is not None:
        return {"explicit_posts": True}
    filters = ReadyFilters.model_validate(body.model_dump(mode="json"))
    return filters.model_dump(mode="json", exclude_none=True)


async def present(session: AsyncSession, rows: list[Payout]) -> list[PayoutOut]:
    totals = await payouts.currency_totals(session, [p.id for p in rows])
    return [
        PayoutOut(
            id=p.id,
            status=p.status,
            selection=PayoutSelection.model_validate(p.selection),
            posts=sum(t.posts for t in totals.get(p.id, [])),
            currencies=[CurrencyTotal.model_validate(t) for t in totals.get(p.id, [])],
            payout_reference=p.payout_reference,
            created_at=p.created_at,
            paid_at=p.paid_at,
            cancelled_at=p.cancelled_at,
        )
        for p in rows
    ]


async def detail(session: AsyncSession, payout: Payout) -> PayoutDetail:
    """The batch as GET /v1/payouts/{id} shows it, and as its webhooks carry it."""
    (out,) = await present(session, [payout])
    creators = await payouts.creator_totals(session, payout.id)
    return PayoutDetail(
        **out.model_dump(), creators=[CreatorTotal.model_validate(c) for c in creators]
    )


def month_start(now: datetime) -> datetime:
    """The first moment of `now`'s month in UTC: where "paid this month" starts."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def pulse(
    session: AsyncSession,
    org: uuid.UUID,
    *,
    only: frozenset[uuid.UUID] | None,
    now: datetime | None = None,
) -> PayoutPulse:
    """GET /v1/payouts/pulse, and the payments page's cards."""
    found_ = await payouts.pulse(session, org, month_start(now or datetime.now(UTC)), only=only)

    def totals(key: str) -> list[CurrencyTotal]:
        return [CurrencyTotal.model_validate(r) for r in found_[key]]

    return PayoutPulse(
        pending_cpm=PendingCpm.model_validate(found_["pending_cpm"]),
        ready=totals("ready"),
        in_open_batches=totals("in_open_batches"),
        paid_this_month=totals("paid_this_month"),
        month_start=found_["month_start"],
    )


async def _announce(session: AsyncSession, payout: Payout, kind: EventType) -> None:
    if payout.organization_id in await outbox.listening(session, {payout.organization_id}):
        await outbox.emit_many(
            session, [outbox.Event(payout.organization_id, kind, await detail(session, payout))]
        )


async def create(
    session: AsyncSession, settings: Settings, principal: Principal, body: PayoutCreate
) -> Payout:
    org = principal.organization_id
    payout = Payout(
        organization_id=org,
        status=PayoutStatus.OPEN,
        selection=_selection(body),
        created_by_key_id=principal.key_id,
    )
    session.add(payout)
    await session.flush()
    filters = None if body.post_ids is not None else body
    taken = await payouts.add_lines(
        session,
        org,
        payout.id,
        filters,
        body.post_ids,
        settings.payout_max_posts,
        only=principal.within(Action.POST_MARK_PAID),  # a restricted caller's campaigns
    )
    if body.post_ids is not None:
        missing = sorted(set(body.post_ids) - set(taken))
        if missing:
            raise Conflict(
                "posts_not_ready",
                f"{len(missing)} of the posts are not ready to pay (not finalized, already "
                "paid, held, in another open payout, or not found); nothing was created.",
                post_ids=missing,
            )
    if not taken:
        raise Conflict("payout_empty", "No post of the selection is ready to pay.")
    if len(taken) > settings.payout_max_posts:
        raise Conflict(
            "payout_too_large",
            f"The selection has more than {settings.payout_max_posts} posts; narrow it "
            "(by campaign, creator or finalized_before).",
        )
    await session.refresh(payout)
    await _announce(session, payout, EventType.PAYOUT_CREATED)
    return payout


async def mark_paid(
    session: AsyncSession, principal: Principal, payout_id: uuid.UUID, reference: str
) -> Payout:
    """Every post of the batch paid in this transaction, or none: a post that is no longer
    finalized, or has an open hold, stops the whole batch (409 naming the posts and why)."""
    payout = found(
        await payouts.get(
            session,
            principal.organization_id,
            payout_id,
            for_update=True,
            only=principal.within(Action.POST_MARK_PAID),
        ),
        "payout",
    )
    if payout.status is PayoutStatus.PAID:
        if payout.payout_reference == reference:
            return payout  # a retry: what it asked for has happened
        raise Conflict(
            "payout_already_paid",
            f"The payout was already marked paid with another reference "
            f"({payout.payout_reference}).",
        )
    if payout.status is PayoutStatus.CANCELLED:
        raise Conflict("payout_cancelled", "The payout was cancelled; make a new one.")
    posts = await payouts.lock_posts(session, payout.id)
    now = datetime.now(UTC)
    paying = [
        Transition(
            post_id=p.id,
            from_status=PostStatus.FINALIZED,
            to_status=PostStatus.PAID,
            code="payout_paid",
            reason=f"Paid in payout {payout.id}, reference {reference}.",
            actor_key_id=principal.key_id,
            values={"paid_at": now, "payout_reference": reference},
            payout_id=payout.id,
        )
        for p in posts
    ]
    # The writer applies the one guard every door to `paid` has (finalized, no open hold,
    # no other open batch); a post it refuses stops the batch, and the request's rollback
    # undoes the posts that were paid before it.
    landed = {item.transition.post_id for item in await transitions.land(session, paying, now)}
    refused = await transition_rows.refusals(
        session, [t for t in paying if t.post_id not in landed]
    )
    if refused:
        blocked = sorted(refused)
        raise Conflict(
            "payout_posts_not_payable",
            f"{len(blocked)} of the payout's posts are no longer finalized or have an open "
            "hold; nothing was paid. Cancel the payout and make a new one.",
            post_ids=blocked,
        )
    payout.status = PayoutStatus.PAID
    payout.paid_at = now
    payout.payout_reference = reference
    await session.flush()
    await _announce(session, payout, EventType.PAYOUT_PAID)
    return payout


async def cancel(session: AsyncSession, principal: Principal, payout_id: uuid.UUID) -> Payout:
    """Releases the batch's posts: they are ready to pay again."""
    payout = found(
        await payouts.get(
            session,
            principal.organization_id,
            payout_id,
            for_update=True,
            only=principal.within(Action.POST_MARK_PAID),
        ),
        "payout",
    )
    if payout.status is PayoutStatus.CANCELLED:
        return payout
    if payout.status is PayoutStatus.PAID:
        raise Conflict("payout_already_paid", "The payout is paid; it cannot be cancelled.")
    payout.status = PayoutStatus.CANCELLED
    payout.cancelled_at = datetime.now(UTC)
    await payouts.release(session, payout.id)
    await session.flush()
    await _announce(session, payout, EventType.PAYOUT_CANCELLED)
    return payout
