import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from app.domain.enums import Platform
from app.schemas.common import Input, Output


class RunCreate(Input):
    campaign_id: uuid.UUID | None = None
    post_ids: Annotated[list[uuid.UUID], Field(max_length=1000)] | None = None
    platform: Platform | None = None
    force: bool = Field(False, strict=True, description="Refresh posts even if not due yet.")


class OutcomeCounts(Output):
    refreshed: int = 0
    failed: int = 0
    skipped: int = 0


class RunOut(Output):
    id: uuid.UUID
    kind: Literal["on_demand", "scheduled"]
    status: Literal["queued", "running", "finished"]
    scope: dict[str, object]
    force: bool
    queued: int = Field(description="Posts the run covers.")
    refreshed: int
    failed: int
    skipped: int
    by_source: dict[str, OutcomeCounts] = Field(
        description="Outcomes per provider that answered: primary, backup, instagram."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
