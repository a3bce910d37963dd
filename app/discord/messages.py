"""The bot's words: one clear line per outcome. Creators see their status, views and
earnings; never the campaign's rates, caps or tier names."""

from collections.abc import Sequence
from decimal import Decimal

from app.domain.enums import HoldCode, PostStatus
from app.domain.errors import DomainError
from app.repositories.discord import RecentPost

NOT_LINKED = (
    "Your Discord account is not linked to a creator yet: run /link with the access code "
    "the brand gave you."
)

ALREADY_TRACKED = "Already tracked: this video was submitted before (a video counts once)."
FAILED = "Something went wrong on our side; check /my-posts, then try again."

_STATUS = {
    PostStatus.TRACKING: "tracking",
    PostStatus.HELD: "under review",
    PostStatus.PENDING_CPM: "awaiting a rate",
    PostStatus.FINALIZED: "approved",
    PostStatus.PAID: "paid",
    PostStatus.REJECTED: "rejected",
}


# Why a new video is on hold, as its creator would say it: no other account named, no
# campaign terms. A hold the campaign raises from a flag gets the last, general line.
_HELD_BECAUSE: dict[str, str] = {
    HoldCode.AUTHOR_MISMATCH: "the platform names another account as the video's author",
    HoldCode.OUTSIDE_CAMPAIGN_WINDOW: "it was published outside the campaign's dates",
    HoldCode.DUPLICATE_VIDEO: "the same video is already tracked under another post",
}
_HELD_OTHERWISE = "the brand wants to look at its stats first"


def held_because(codes: Sequence[str]) -> str:
    reasons = list(dict.fromkeys(_HELD_BECAUSE.get(code, _HELD_OTHERWISE) for code in codes))
    return "; ".join(reasons)


def added(campaign: str, views: int | None, holds: Sequence[str] = ()) -> str:
    if holds:
        line = (
            f"Added to **{campaign}**, but it is **on hold**: {held_because(holds)}. "
            "The brand reviews it before it can be paid"
        )
        return line + ("." if views is None else f"; {views:,} views so far.")
    if views is None:
        return f"Added to **{campaign}**. Its views will show after the first fetch."
    return f"Added to **{campaign}**: {views:,} views so far."


def refused(error: DomainError, campaign: str) -> str:
    """Why the post service refused the video, for the creator who sent it."""
    match error.code:
        case "post_exists":
            return ALREADY_TRACKED
        case "creator_not_member":
            return f"You are not a member of **{campaign}**; ask the brand to add you."
        case "campaign_ended":
            return f"**{campaign}** has ended; it takes no new posts."
        case "author_mismatch":
            return f"Not your video: {error.detail}"
        case "invalid_url" | "short_link_invalid":
            return f"Invalid URL: {error.detail}"
        case "platform_mismatch":
            return f"Wrong platform: {error.detail}"
        case _:
            return f"Not added: {error.detail}"


INVALID_URL_TOO_LONG = "Invalid URL: it is longer than 2,048 characters."
NO_CAMPAIGN = "You are not a member of any active campaign; ask the brand to add you to one."
UNKNOWN_CAMPAIGN = "No campaign by that name: pick one from the list."
NOT_CONNECTED = "This Discord application is no longer connected to the brand's account."


def choose_campaign(count: int) -> str:
    return f"You are in {count} active campaigns: choose one with the campaign option."


def _money(amount: Decimal | None, currency: str) -> str:
    return "no earnings yet" if amount is None else f"{amount:,.2f} {currency}"


def my_posts(handle: str, rows: Sequence[RecentPost]) -> str:
    if not rows:
        return f"@{handle} has no posts yet. Submit one with /submit-post."
    lines = [f"Recent posts of @{handle}:"]
    for row in rows:
        lines.append(
            f"- **{row.campaign}** <{row.url}>: {_STATUS[row.status]}, {row.views:,} views, "
            f"{_money(row.earnings, row.currency)}"
        )
    return "\n".join(lines)
