"""Field types shared by the request and response models."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

T = TypeVar("T")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a 422 rather than a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Note = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
    AfterValidator(_no_nul),
]
Cpm = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=12,
        decimal_places=4,
        description="Amount per 1,000 views.",
        examples=["4.50"],
    ),
]
Cap = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=12,
        decimal_places=2,
        description="Most one video can earn.",
        examples=["250.00"],
    ),
]


def _not_a_number(value: object) -> object:
    # Lax validation would read a number as a Unix time; dates come as ISO 8601 text.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 date, like 2026-01-31")
    return value


Day = Annotated[date, BeforeValidator(_not_a_number)]


def _plausible(value: datetime) -> datetime:
    # Far-off years overflow date arithmetic and PostgreSQL's range; none is a real query.
    if not 1970 <= value.year <= 9000:
        raise ValueError("must be between the years 1970 and 9000")
    return value


# A point in time in a query: with its UTC offset (a naive time is ambiguous), plausible.
Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
Limit = Annotated[int, Field(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=500,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` from the previous page.",
    ),
]


class Input(BaseModel):
    """Request bodies: unknown fields are refused so typos don't pass silently. Numbers and
    booleans are strict (`false` is not 0, 1 is not `true`): what the schema says is what is
    accepted. (Strings stay lax: FastAPI validates parsed JSON, where dates and UUIDs are
    still strings.)"""

    model_config = ConfigDict(extra="forbid")


def _not_sent() -> Any:
    return None


# The default of a Patch field that cannot be cleared: the field is typed without None, so
# the schema (and validation) refuse an explicit null, and "not sent" stays None in Python.
NOT_SENT: Any = Field(default_factory=_not_sent)


class Patch(Input):
    """Partial updates: only the fields sent change; null clears an optional field. A field
    that cannot be cleared is typed without None and defaults to "not sent"."""


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Output, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
