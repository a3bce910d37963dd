"""What a creator sees of their own posts: no tier, cpm, cap, other creators or analytics."""

import uuid
from datetime import datetime

from pydantic import Field

from app.domain.enums import Platform
from app.domain.payouts import PortalStatus
from app.schemas.common import Input, MoneyOut, Output, Page


class PortalLogin(Input):
    access_code: str = Field(
        min_length=1,
        max_length=64,
        description="The creator's access code, as given (any case, dashes optional).",
        examples=["7K3Q-M9XD-2HVB-WT4N"],
    )


class PortalCreator(Output):
    handle: str
    platform: Platform


class PortalSessionOut(Output):
    creator: PortalCreator
    expires_at: datetime = Field(description="When the session cookie stops working.")


class PortalPost(Output):
    id: uuid.UUID
    campaign: str = Field(description="The campaign's name.")
    platform: Platform
    url: str
    published_at: datetime | None
    status: PortalStatus
    status_reason: str | None = Field(description="Why a video is held or rejected.")
    views: int = Field(description="The locked views once decided, else the latest count.")
    views_locked: bool
    earnings: MoneyOut | None = Field(description="Once finalized, in `currency`.")
    currency: str = Field(examples=["USD"])
    paid_at: datetime | None


class PortalTotal(Output):
    currency: str = Field(examples=["USD"])
    posts: int
    earned: MoneyOut = Field(description="Finalized and paid videos' earnings.")
    paid: MoneyOut
    pending: MoneyOut = Field(description="Earned, not paid yet.")


class PortalSummary(Output):
    creator: PortalCreator
    totals: list[PortalTotal] = Field(description="Per currency: never added together.")


class PortalPostPage(Page[PortalPost]):
    pass
