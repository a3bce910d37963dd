import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from app.domain.enums import CampaignStatus
from app.domain.integrity import FlagCode
from app.schemas.common import (
    NOT_SENT,
    WHOLE_NUMBER,
    Cap,
    Cpm,
    CpmOut,
    Day,
    Input,
    MoneyOut,
    Name,
    Output,
    Page,
    Patch,
)

Currency = Annotated[
    str,
    StringConstraints(to_upper=True, pattern=r"^[A-Za-z]{3}$"),
    Field(description="ISO 4217 code.", examples=["USD"]),
]
MinViews = Annotated[
    int,
    Field(strict=True, ge=0, le=2_000_000_000, description="Overrides the default minimum views."),
    WHOLE_NUMBER,
]


# The maximum is REFRESH_WINDOW_DAYS (a post is decided on fresh stats): app.http.contract
# writes the configured value into the schema.
def _each_once(codes: list[FlagCode]) -> list[FlagCode]:
    if len(set(codes)) != len(codes):
        raise ValueError("each flag code at most once")
    return sorted(codes)


HoldOnFlags = Annotated[
    list[FlagCode],
    Field(
        max_length=len(FlagCode),
        json_schema_extra={"uniqueItems": True},
        description="Integrity flag codes that act as holds in this campaign: a post raising "
        "one waits in `held` at its deadline until the flag is resolved. Others only inform.",
    ),
    AfterValidator(_each_once),
]
FinalizeDays = Annotated[
    int,
    Field(strict=True, ge=0, le=3650, description="Overrides the default finalize-after days."),
    WHOLE_NUMBER,
]


class CampaignCreate(Input):
    name: Name
    currency: Currency = "USD"
    status: CampaignStatus = CampaignStatus.ACTIVE
    starts_on: Day | None = None
    ends_on: Day | None = None
    min_views: MinViews | None = None
    finalize_after_days: FinalizeDays | None = None
    hold_on_flags: HoldOnFlags = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> Self:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        return self


class CampaignUpdate(Patch):
    name: Name = NOT_SENT
    currency: Currency = NOT_SENT
    status: CampaignStatus = NOT_SENT
    starts_on: Day | None = None
    ends_on: Day | None = None
    min_views: MinViews | None = None
    finalize_after_days: FinalizeDays | None = None
    hold_on_flags: HoldOnFlags = NOT_SENT


class CampaignOut(Output):
    id: uuid.UUID
    name: str
    currency: str
    status: Annotated[
        CampaignStatus,
        Field(
            description="The status in force: `ended` once past the end of `ends_on` (UTC), "
            "whatever status was set; extending `ends_on` reopens it."
        ),
    ]
    starts_on: date | None
    ends_on: date | None
    min_views: int | None
    finalize_after_days: int | None
    hold_on_flags: list[FlagCode]
    created_at: datetime
    updated_at: datetime


class TierCreate(Input):
    name: Name
    cpm: Cpm
    cap: Cap | None = None


class TierUpdate(Patch):
    name: Name = NOT_SENT
    cpm: Cpm = NOT_SENT
    cap: Cap | None = None


class TierOut(Output):
    id: uuid.UUID
    campaign_id: uuid.UUID
    name: str
    cpm: CpmOut
    cap: Annotated[MoneyOut, Field(description="Most one video can earn.")] | None
    created_at: datetime


class CampaignPage(Page[CampaignOut]):
    pass


class TierPage(Page[TierOut]):
    pass
