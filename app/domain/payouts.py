"""What is ready to pay, and how a post reads in the creator portal. Pure rules; the SQL form
of `payable` sits beside the Python one (tests/domain/test_rule_parity.py checks they agree).

Ready to pay = finalized (so views are locked and terms assigned; a paid post is not
finalized any more) and no open hold. Issue 13's `hold_on_flags` turns flags into holds,
which raise `posts.open_holds`: they arrive here through that one count, with no change.
Not being in an open batch is the database's rule (payout_lines' partial unique index); the
queries add it themselves."""

from typing import Any, Literal

from sqlalchemy import ColumnElement, SQLColumnExpression, and_

from app.domain.enums import PostStatus


def payable(status: PostStatus, open_holds: int) -> bool:
    return status is PostStatus.FINALIZED and open_holds == 0


def payable_sql(
    status: SQLColumnExpression[Any], open_holds: SQLColumnExpression[Any]
) -> ColumnElement[bool]:
    """`payable(...)`, in SQL."""
    return and_(status == PostStatus.FINALIZED.value, open_holds == 0)


PortalStatus = Literal["Active", "Held", "Finalized", "Paid", "Rejected"]

# The portal's words for a status: a creator sees where a video stands, not the machinery.
PORTAL_STATUS: dict[PostStatus, PortalStatus] = {
    PostStatus.TRACKING: "Active",
    PostStatus.HELD: "Held",
    PostStatus.PENDING_CPM: "Held",
    PostStatus.FINALIZED: "Finalized",
    PostStatus.PAID: "Paid",
    PostStatus.REJECTED: "Rejected",
}

# Why a video is held, in words that reveal no terms (a pending_cpm post waits for the
# brand's rate, which the creator must not see) and no other account.
_HELD_REASON = {
    PostStatus.HELD: "Under review by the brand before it can be decided.",
    PostStatus.PENDING_CPM: "Views are locked; waiting for the brand to confirm the terms.",
}


def portal_reason(status: PostStatus, rejection_reason: str | None) -> str | None:
    if status is PostStatus.REJECTED:
        return rejection_reason
    return _HELD_REASON.get(status)
