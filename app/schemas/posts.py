import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.domain.enums import Platform, PostStatus
from app.schemas.common import Cursor, Input, Limit, Moment, Name, Note, Output


class PostCreate(Input):
    """Either `url`, or `platform` with `post_id`."""

    url: Annotated[str, StringConstraints(max_length=2048)] | None = Field(
        None, examples=["https://www.tiktok.com/@scout2015/video/6718335390845095173"]
    )
    platform: Platform | None = None
    post_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None, description="TikTok numeric id, or Instagram shortcode (or numeric media id)."
    )
    creator_id: uuid.UUID | None = Field(
        None, description="Required unless the URL names the creator (TikTok /@handle/...)."
    )
    cpm_tier_id: uuid.UUID | None = Field(
        None, description="Defaults to the member's default tier."
    )

    @model_validator(mode="after")
    def _one_reference(self) -> Self:
        by_id = self.platform is not None or self.post_id is not None
        if self.url is not None and by_id:
            raise ValueError("send either url, or platform with post_id, not both")
        if self.url is None and (self.platform is None or self.post_id is None):
            raise ValueError("send url, or both platform and post_id")
        return self


class PostUpdate(Input):
    cpm_tier_id: uuid.UUID | None = Field(
        description="Assigning a tier to a pending_cpm post finalizes it with its locked views."
    )


class RejectBody(Input):
    reason: Note


class RestoreBody(Input):
    reason: Note | None = None


class MarkPaidBody(Input):
    payout_reference: Name | None = None


PostSort = Literal["created_at", "-created_at", "published_at", "-published_at", "views", "-views"]


class PostListQuery(BaseModel):
    """Filters, order and page of a post list (query parameters)."""

    status: list[PostStatus] = Field(
        default_factory=list, description="Repeat to match any of several statuses."
    )
    platform: Platform | None = None
    creator_id: uuid.UUID | None = None
    hold: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")] | None = Field(
        None, description="Only posts with an open hold of this code."
    )
    published_from: Moment | None = Field(None, description="Inclusive.")
    published_to: Moment | None = Field(None, description="Exclusive.")
    sort: PostSort = Field(
        "-created_at",
        description="Sort key, `-` for descending. `published_at` is the publish time, or when "
        "the post was added while the platform has not reported it yet.",
    )
    cursor: Cursor = None
    limit: Limit = 50


class HoldOut(Output):
    code: str = Field(
        description="author_mismatch, outside_campaign_window, duplicate_video, or a flag the "
        "campaign holds on."
    )
    reason: str
    evidence: dict[str, Any]
    raised_at: datetime


class ClearHoldBody(Input):
    reason: Note


class PostOut(Output):
    id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: Platform
    platform_post_id: str
    url: str
    published_at: datetime | None
    status: PostStatus
    views: int
    likes: int
    comments: int
    shares: int | None
    cpm_tier_id: uuid.UUID | None
    locked_views: int | None
    earnings: Decimal | None = Field(description="In the campaign's currency, as a string.")
    finalized_at: datetime | None
    rejection_code: str | None
    rejection_reason: str | None
    paid_at: datetime | None
    payout_reference: str | None
    last_refreshed_at: datetime | None
    last_fetch_outcome: str | None = Field(
        description="What the last fetch came to: refreshed, skipped_carousel, not_found, "
        "private, withheld, under_review, rate_limited, quota_exhausted, upstream_error, ..."
    )
    last_fetch_at: datetime | None
    last_error_code: str | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    holds: list[HoldOut] = Field(
        default_factory=list,
        description="Open holds: until each is cleared the post is never paid automatically.",
    )
    created_at: datetime
    updated_at: datetime


class EventOut(Output):
    id: int
    post_id: uuid.UUID
    from_status: PostStatus | None
    to_status: PostStatus
    code: str
    reason: str | None
    actor_key_id: uuid.UUID | None = Field(
        description="The API key that acted; null for the system."
    )
    created_at: datetime
