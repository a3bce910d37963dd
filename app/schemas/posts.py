import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from app.domain.enums import Platform, PostStatus
from app.domain.integrity import FlagCode
from app.platforms.urls import PostRef, UrlError, parse_video_url
from app.schemas.common import (
    NO_NUL,
    Cursor,
    Earnings,
    Input,
    Limit,
    Moment,
    Name,
    Note,
    Output,
    Page,
)

_CREATOR = Field(
    None, description="Required unless the URL names the creator (TikTok /@handle/...)."
)
_TIER = Field(None, description="Defaults to the member's default tier.")


class PostCreateByUrl(Input):
    """A video by its URL (short links are followed on the platform's own hosts)."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=NO_NUL)] = Field(
        examples=["https://www.tiktok.com/@scout2015/video/6718335390845095173"]
    )
    creator_id: uuid.UUID | None = _CREATOR
    cpm_tier_id: uuid.UUID | None = _TIER


class PostCreateById(Input):
    """A video by its platform and the platform's id for it."""

    platform: Platform
    platform_post_id: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    ] = Field(
        description="TikTok numeric id, Instagram shortcode (or numeric media id), or YouTube "
        "video id (11 characters).",
        examples=["6718335390845095173"],
    )
    creator_id: uuid.UUID | None = _CREATOR
    cpm_tier_id: uuid.UUID | None = _TIER


def _shape(value: Any) -> str:
    # A body naming a url is the url shape, anything else the id shape: errors then point
    # at the fields of the shape the caller meant. (Tags in <> are left out of error
    # pointers: app/errors.py.)
    if isinstance(value, dict):
        return "<url>" if "url" in value else "<id>"
    return "<url>" if isinstance(value, PostCreateByUrl) else "<id>"


# The request body of posts_create: one of the two shapes (oneOf in the schema).
PostCreateBody = Annotated[
    Annotated[PostCreateByUrl, Tag("<url>")] | Annotated[PostCreateById, Tag("<id>")],
    Discriminator(_shape),
]


class PostCreate(BaseModel):
    """Either shape of the request, as the service reads it."""

    url: str | None = None
    platform: Platform | None = None
    platform_post_id: str | None = None
    creator_id: uuid.UUID | None = None
    cpm_tier_id: uuid.UUID | None = None

    @classmethod
    def of(cls, body: PostCreateByUrl | PostCreateById) -> "PostCreate":
        return cls(**body.model_dump())

    @model_validator(mode="after")
    def _one_reference(self) -> Self:
        if (self.url is None) == (self.platform is None or self.platform_post_id is None):
            raise ValueError("send url, or platform with platform_post_id")
        return self


# A hold's code, as a path names it (posts_holds_clear) and a filter asks for it.
HOLD_CODE = r"^[a-z_]{1,64}$"


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


class PostSort(StrEnum):
    """A sort key; the `_DESC` members (`-` prefix) sort descending. `updated_at` is the
    change feed's order (see `updated_since`)."""

    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    PUBLISHED_AT = "published_at"
    PUBLISHED_AT_DESC = "-published_at"
    VIEWS = "views"
    VIEWS_DESC = "-views"
    UPDATED_AT = "updated_at"

    @property
    def key(self) -> str:
        return self.value.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


class PostFilterQuery(BaseModel):
    """Filters and order of a post list (query parameters); the CSV export takes these."""

    status: list[PostStatus] = Field(
        default_factory=list, description="Repeat to match any of several statuses."
    )
    platform: Platform | None = None
    creator_id: uuid.UUID | None = None
    hold: Annotated[str, StringConstraints(pattern=HOLD_CODE)] | None = Field(
        None, description="Only posts with an open hold of this code."
    )
    flag: FlagCode | None = Field(None, description="Only posts with an open flag of this code.")
    has_hold: bool | None = Field(
        None, description="true: only posts with an open hold (any code); false: none open."
    )
    has_flag: bool | None = Field(
        None, description="true: only posts with an open flag (any code); false: none open."
    )
    q: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL),
        ]
        | None
    ) = Field(
        None,
        description="Search: a creator's handle or its start (with or without `@`, any case), "
        "a post's id (ViewLedger's or the platform's), or a video URL (matched by the video it "
        "names; short links are not followed here).",
    )
    published_from: Moment | None = Field(None, description="Inclusive.")
    published_to: Moment | None = Field(None, description="Exclusive.")
    updated_since: Moment | None = Field(
        None,
        description="Posts changed at or after this time. With `sort=updated_at` the list is "
        "the change feed: oldest change first, no change missed or repeated across pages, and "
        "the last page has a `next_cursor` too: keep it and poll with it (and the same "
        'parameters) later. See the README\'s "Change feed".',
    )
    sort: PostSort = Field(
        PostSort.CREATED_AT_DESC,
        description="Sort key, `-` for descending. `published_at` is the publish time, or when "
        "the post was added while the platform has not reported it yet.",
    )

    @property
    def q_platform_post_id(self) -> str | None:
        """The platform's id of the video `q` names when it is a video URL."""
        if self.q is None or "/" not in self.q:
            return None
        try:
            ref = parse_video_url(self.q)
        except UrlError:
            return None
        return ref.post_id if isinstance(ref, PostRef) else None


class PostListQuery(PostFilterQuery):
    """Filters, order and page of a post list (query parameters)."""

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
    likes: int | None = Field(
        description="Null when unknown: a YouTube channel that hides its likes."
    )
    comments: int
    shares: int | None
    cpm_tier_id: uuid.UUID | None
    locked_views: int | None
    locked_observed_at: datetime | None = Field(
        description="When the platform answered with the locked views (see the evidence)."
    )
    earnings: Earnings | None = Field(description="In the campaign's currency, as a string.")
    finalized_at: datetime | None
    rejection_code: str | None
    rejection_reason: str | None
    paid_at: datetime | None
    payout_reference: str | None
    last_refreshed_at: datetime | None
    last_fetch_outcome: str | None = Field(
        description="What the last fetch came to: refreshed, skipped_carousel, not_found, "
        "private, withheld, under_review, rate_limited, quota_exhausted, upstream_error, "
        "write_failed, unconfirmed_drop (a suspicious drop awaiting a second answer), ..."
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
    flags: list[FlagCode] = Field(
        description="Codes of its open integrity flags (they do not stop payment unless the "
        "campaign holds on them); details at /v1/posts/{id}/flags."
    )
    source: Literal["submitted", "watched_account"] = Field(
        description="How it joined: submitted (the API, the dashboard, a bulk paste, Discord) "
        "or watched_account (found on a watched account: `watched_account_id`)."
    )
    watched_account_id: uuid.UUID | None = Field(
        description="The watch that found it (null when submitted, or the watch was deleted)."
    )
    created_at: datetime
    updated_at: datetime


class EventActor(Output):
    """A person who acted, as the users API shows them."""

    id: uuid.UUID
    name: str
    email: str


class EventOut(Output):
    id: int
    post_id: uuid.UUID
    from_status: PostStatus | None
    to_status: PostStatus
    code: str
    reason: str | None
    actor_key_id: uuid.UUID | None = Field(
        description="The API key that acted (a signed-in user's own key row when a user "
        "did); null for the system."
    )
    actor_user: EventActor | None = Field(
        description="The user who acted, when a signed-in person did; null for an API key "
        "or the system."
    )
    created_at: datetime
    evidence: dict[str, Any] | None = Field(
        description="What a decision was made on: views, observed_at, snapshot_id, rules, "
        "tier terms as they were, min_views_check, arithmetic, earnings, timing. For a "
        "flag_raised event, the flag's evidence. Null for events that decide nothing."
    )


class FlagOut(Output):
    id: int
    code: FlagCode
    reason: str
    evidence: dict[str, Any] = Field(description="The numbers and snapshots it was raised on.")
    raised_at: datetime
    resolved_at: datetime | None
    resolved_by_key_id: uuid.UUID | None
    resolution_note: str | None


class ResolveFlagBody(Input):
    note: Note


class SnapshotOut(Output):
    """One provider answer: what was read from it and where, when, and how to check it."""

    id: int
    captured_at: datetime
    views: int
    likes: int | None = Field(description="Null when the channel hides them (YouTube).")
    comments: int
    shares: int | None
    source: str = Field(description="primary or backup (TikTok), instagram, or youtube.")
    views_field: str | None = Field(description="Where in the answer the views were read.")
    requested_at: datetime | None
    answered_at: datetime | None
    raw_sha256: str | None = Field(description="SHA-256 (hex) of the answer's exact bytes.")
    applied: bool = Field(description="False: a suspicious drop stored but not applied.")
    raw_answer: str | None = Field(
        None,
        description="The answer as the provider sent it (UTF-8); null once pruned (after "
        "RAW_ANSWER_RETENTION_DAYS, never for a snapshot a decision or flag used) or when "
        "larger than 512 KiB. Exact bytes at /v1/posts/{id}/snapshots/{snapshot_id}/raw.",
    )


class EvidenceOut(Output):
    """Everything needed to re-derive a post's number from the platform's own answer."""

    post: PostOut
    decision: EventOut | None = Field(description="The latest decision and its evidence.")
    events: list[EventOut] = Field(
        description="Every event, oldest first: decisions with their evidence, and manual "
        "actions (tier assigned, hold cleared, rejected, restored, paid) with who and why."
    )
    snapshots: list[SnapshotOut] = Field(
        description="The snapshots the decisions and flags name, with their raw answers."
    )
    flags: list[FlagOut]


class PostPage(Page[PostOut]):
    pass


class FlagPage(Page[FlagOut]):
    pass


class EventPage(Page[EventOut]):
    pass
