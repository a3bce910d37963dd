"""Payout batches, what is ready to pay, and the CSV exports' columns."""

import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, Field, model_validator

from app.domain.enums import PayoutStatus, Platform
from app.schemas.campaigns import Currency
from app.schemas.common import (
    Cursor,
    Earnings,
    Input,
    Limit,
    Moment,
    MoneyOut,
    Name,
    Output,
    Page,
)


class ReadyFilters(BaseModel):
    """Which ready posts: by campaign, creator, and finalized before a moment."""

    campaign_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None
    finalized_before: Moment | None = Field(
        None, description="Only posts finalized before this moment (exclusive)."
    )


class ReadyQuery(ReadyFilters):
    cursor: Cursor = None
    limit: Limit = 50


class ReadyPostQuery(ReadyFilters):
    currency: Currency | None = Field(None, description="Only posts paid in this currency.")
    cursor: Cursor = None
    limit: Limit = 50


class ReadyPost(Output):
    """A post behind a line of what is ready to pay: what a batch of it would fix."""

    post_id: uuid.UUID
    creator_id: uuid.UUID
    creator_handle: str
    platform: Platform
    campaign_id: uuid.UUID
    campaign: str = Field(description="The campaign's name.")
    url: str
    platform_post_id: str
    currency: str = Field(examples=["USD"])
    locked_views: int
    earnings: Earnings
    finalized_at: datetime


class CreatorTotal(Output):
    """One creator's posts in one currency: currencies are never added together."""

    creator_id: uuid.UUID
    creator_handle: str
    platform: Platform
    currency: str = Field(examples=["USD"])
    posts: int
    locked_views: int
    amount: MoneyOut


class CurrencyTotal(Output):
    currency: str = Field(examples=["USD"])
    posts: int
    amount: MoneyOut


# The most posts one batch of chosen posts takes (the dashboard's payments page says it).
PAYOUT_POST_IDS_MAX = 1000


class PayoutCreate(ReadyFilters, Input):
    """A selection: the filters (any combination, none for everything ready), or explicit
    post ids, each of which must be ready to pay."""

    post_ids: list[uuid.UUID] | None = Field(
        None,
        min_length=1,
        max_length=PAYOUT_POST_IDS_MAX,
        description="Exactly these posts (not combined with the filters).",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if self.post_ids is not None and (
            self.campaign_id or self.creator_id or self.finalized_before
        ):
            raise ValueError("send post_ids or filters, not both")
        return self


class PendingCpm(Output):
    posts: int = Field(description="Posts past the minimum views with no tier yet.")
    locked_views: int


class PayoutPulse(Output):
    """Where the money stands, per currency (currencies are never added together)."""

    pending_cpm: PendingCpm = Field(description="Waiting for a tier before they earn.")
    ready: list[CurrencyTotal] = Field(
        description="Finalized, no open hold, in no open batch: what `GET /v1/payouts/ready` sums."
    )
    in_open_batches: list[CurrencyTotal] = Field(description="In batches not yet paid.")
    paid_this_month: list[CurrencyTotal] = Field(
        description="Posts paid since `month_start`, by a batch or one by one."
    )
    month_start: datetime = Field(description="The first moment of this month, in UTC.")


class PayoutSelection(Output):
    campaign_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None
    finalized_before: datetime | None = None
    explicit_posts: bool = Field(False, description="The batch was made from explicit post ids.")


class PayoutOut(Output):
    id: uuid.UUID
    status: PayoutStatus
    selection: PayoutSelection
    posts: int = Field(description="Posts in the batch.")
    currencies: list[CurrencyTotal] = Field(description="Totals per currency.")
    payout_reference: str | None
    created_at: datetime
    paid_at: datetime | None
    cancelled_at: datetime | None


class PayoutDetail(PayoutOut):
    creators: list[CreatorTotal] = Field(description="Totals per creator and currency.")


class PayoutMarkPaid(Input):
    payout_reference: Name = Field(
        description="Your payment's reference (bank transfer, payout run): stored on every "
        "post of the batch."
    )


class PayoutListQuery(BaseModel):
    status: PayoutStatus | None = None
    cursor: Cursor = None
    limit: Limit = 50


class CreatorTotalPage(Page[CreatorTotal]):
    pass


class PayoutPage(Page[PayoutOut]):
    pass


class ReadyPostPage(Page[ReadyPost]):
    pass
