from enum import StrEnum


class Platform(StrEnum):
    TIKTOK = "tiktok"
    INSTAGRAM = "instagram"


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
    PENDING_CPM = "pending_cpm"
    FINALIZED = "finalized"
    PAID = "paid"
    REJECTED = "rejected"


class StatsSource(StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"
    INSTAGRAM = "instagram"
