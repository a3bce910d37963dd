"""How a post reads in the creator portal. What is ready to pay is the guard of (finalized,
paid) in app/domain/transitions.py, the one the transition writer applies."""

from typing import Literal

from app.domain.enums import PostStatus

# The statuses whose earnings a creator has earned: decided with an amount, paid or not.
EARNED = (PostStatus.FINALIZED, PostStatus.PAID)


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
