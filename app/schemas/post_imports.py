import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from app.schemas.common import NO_NUL, Input, Output

MAX_LINES = 1000


class ImportLineIn(Input):
    url: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048, pattern=NO_NUL)
    ]
    creator_id: uuid.UUID | None = Field(
        None, description="Needed when the URL does not name the creator (Instagram, YouTube)."
    )


class PostImportCreate(Input):
    lines: list[ImportLineIn] = Field(min_length=1, max_length=MAX_LINES)


class ImportLineOut(Output):
    line: int = Field(description="1-based, in the order sent.")
    url: str
    creator_id: uuid.UUID | None
    outcome: str | None = Field(
        description="Null until handled; then `added`, `already_tracked`, `invalid_url`, "
        "`not_member`, `author_mismatch`, `campaign_ended`, `short_link_invalid`, "
        "`short_link_unavailable`, `platform_mismatch`, `creator_required`, `creator_not_found`, "
        "..."
    )
    detail: str | None = Field(description="Why, in words, for every outcome but `added`.")
    post_id: uuid.UUID | None = Field(
        description="The post added, or the one already tracking the video."
    )


class PostImportOut(Output):
    id: uuid.UUID
    campaign_id: uuid.UUID
    status: Literal["queued", "running", "finished"]
    total: int
    done: int
    counts: dict[str, int] = Field(description="Handled lines by outcome.")
    lines: list[ImportLineOut]
    created_at: datetime
    finished_at: datetime | None
