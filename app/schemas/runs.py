import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from app.domain.enums import Platform
from app.schemas.common import Input, Output, Page


class RunKind(StrEnum):
    ON_DEMAND = "on_demand"
    SCHEDULED = "scheduled"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"


class RunCreate(Input):
    """Narrows the run; every field left out means "no narrowing". With no body at all, the
    run covers every trackable post of the organization."""

    campaign_id: uuid.UUID | None = None
    post_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=1000)] | None = None
    platform: Platform | None = None


class OutcomeCounts(Output):
    refreshed: int = 0
    failed: int = 0
    skipped: int = 0


class RunSources(Output):
    """Outcomes per provider that answered."""

    primary: OutcomeCounts = Field(default_factory=OutcomeCounts)
    backup: OutcomeCounts = Field(default_factory=OutcomeCounts)
    instagram: OutcomeCounts = Field(default_factory=OutcomeCounts)
    youtube: OutcomeCounts = Field(default_factory=OutcomeCounts)


class RunScope(Output):
    """What the run was asked to cover; null fields did not narrow it."""

    campaign_id: uuid.UUID | None = None
    platform: Platform | None = None
    post_ids_count: int | None = Field(
        None, description="How many post ids the request named (the ids are not kept)."
    )


class RunOut(Output):
    id: uuid.UUID
    kind: RunKind
    status: RunStatus
    scope: RunScope
    queued: int = Field(description="Posts the run fetches.")
    skipped_recent: int = Field(
        description="Posts in scope left out because they were fetched within "
        "FORCED_REFRESH_MIN_INTERVAL_MINUTES."
    )
    refreshed: int
    failed: int
    skipped: int
    by_source: RunSources
    created_at: datetime
    started_at: datetime | None = Field(description="Never before created_at.")
    finished_at: datetime | None = Field(description="Never before started_at.")


class RunPage(Page[RunOut]):
    pass
