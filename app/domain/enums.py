from enum import StrEnum


class Platform(StrEnum):
    TIKTOK = "tiktok"
    INSTAGRAM = "instagram"
    YOUTUBE = "youtube"  # YouTube Shorts (any YouTube video), through the YouTube Data API


# Each platform's name as its owner spells it: the one place the dashboard, the portal, Discord
# and error messages take it from.
PLATFORM_NAMES = {
    Platform.TIKTOK: "TikTok",
    Platform.INSTAGRAM: "Instagram",
    Platform.YOUTUBE: "YouTube",
}
PLATFORM_LIST = "TikTok, Instagram or YouTube"


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class PostStatus(StrEnum):
    TRACKING = "tracking"
    HELD = "held"  # at its deadline with an open hold: views locked, waiting for a person
    PENDING_CPM = "pending_cpm"
    FINALIZED = "finalized"
    PAID = "paid"
    REJECTED = "rejected"


class StatsSource(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"
    INSTAGRAM = "instagram"
    YOUTUBE = "youtube"  # the YouTube Data API's videos.list


class HoldCode(StrEnum):
    """Why a post must not be paid automatically until an admin clears it."""

    AUTHOR_MISMATCH = "author_mismatch"
    OUTSIDE_CAMPAIGN_WINDOW = "outside_campaign_window"
    DUPLICATE_VIDEO = "duplicate_video"


class PayoutStatus(StrEnum):
    OPEN = "open"  # its posts are fixed and reserved; waiting to be paid or cancelled
    PAID = "paid"  # every post of it was marked paid in one transaction
    CANCELLED = "cancelled"  # released: its posts are ready to pay again


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (or in flight under a lease)
    SUCCEEDED = "succeeded"  # a 2xx answer
    FAILED = "failed"  # every scheduled attempt failed; `retry` sends it again


class OrgRole(StrEnum):
    """A user's role in their organization: `admin` does everything, `member` acts only
    within the campaigns they hold a campaign role in."""

    ADMIN = "admin"
    MEMBER = "member"


class UserStatus(StrEnum):
    INVITED = "invited"  # has not set a password yet
    ACTIVE = "active"
    REMOVED = "removed"  # signed out everywhere, cannot sign in


class UserTokenPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"
