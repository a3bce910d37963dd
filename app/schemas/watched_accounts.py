"""Watched accounts (issue 29): a member creator's account, watched for new videos."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from app.domain import watching
from app.domain.enums import Platform
from app.schemas.common import NOT_SENT, Input, Output, Page, Patch

InitialImport = Annotated[
    Literal[0, 5, 10, 15, 30],
    Field(
        description="How many of the account's most recent videos the first check adds (0, 5, "
        "10, 15 or 30); later checks add videos published after the watch began."
    ),
]
Hashtag = Annotated[str, StringConstraints(pattern=watching.HASHTAG_PATTERN)]
Hashtags = Annotated[
    list[Hashtag],
    Field(
        max_length=watching.MAX_HASHTAGS,
        description="Case-insensitive, with or without the leading #.",
    ),
    AfterValidator(watching.hashtags),
]


class WatchCreate(Input):
    creator_id: uuid.UUID = Field(description="A member of the campaign.")
    initial_import: InitialImport = 0
    include_hashtags: Hashtags = Field(
        default_factory=list,
        description="Only videos whose caption carries one of these (none: every video).",
    )
    exclude_hashtags: Hashtags = Field(
        default_factory=list, description="Never videos whose caption carries one of these."
    )
    enabled: bool = Field(default=True, strict=True, description="false: created paused.")


class WatchUpdate(Patch):
    enabled: Annotated[bool, Field(strict=True)] = NOT_SENT
    include_hashtags: Hashtags = NOT_SENT
    exclude_hashtags: Hashtags = NOT_SENT


class WatchSkipped(Output):
    """Listed posts not added, by reason."""

    filtered: int = Field(0, description="The hashtag filters left it out.")
    outside_window: int = Field(
        0,
        description="Published before the watch began (and not in the initial import), or "
        "outside the campaign's dates.",
    )
    already_tracked: int = Field(0, description="The organization tracks the video already.")
    not_a_video: int = Field(0, description="A carousel or an image (Instagram: Reels only).")
    other_author: int = Field(0, description="The listing named another account as its author.")


class WatchOut(Output):
    id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: Platform
    enabled: bool
    initial_import: int
    include_hashtags: list[str]
    exclude_hashtags: list[str]
    started_at: datetime = Field(description="Videos published after this are new.")
    last_checked_at: datetime | None
    next_check_at: datetime | None = Field(description="Null while paused.")
    last_outcome: str | None = Field(
        description="What the last check came to: ok, private, not_found, rate_limited, "
        "quota_exhausted, auth, upstream_error, other_author."
    )
    last_error: str | None
    consecutive_failures: int
    videos_seen: int
    videos_added: int
    skipped: WatchSkipped
    created_at: datetime
    updated_at: datetime


class WatchPage(Page[WatchOut]):
    pass
