"""Field types shared by the request and response models."""

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

T = TypeVar("T")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here keeps it a 422 rather than a 500.
    # (The fields' schema says the same with NO_NUL; this covers the types without one.)
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# In the schema: no NUL anywhere. The validator is the pattern itself, so they cannot drift.
NO_NUL = r"^[^\x00]*$"
# No NUL, and at least one character that is not whitespace (the value is stripped).
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


def strip(value: str) -> str:
    return value.strip()


# Text fields: at most N characters as sent (the bound is checked before surrounding
# whitespace is stripped, so the schema's maxLength is exactly what is accepted), no NUL,
# not empty or only whitespace.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK),
    AfterValidator(strip),
]
Note = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000, pattern=NOT_BLANK),
    AfterValidator(strip),
]


def _money(name: str, integer_digits: int, decimals: int) -> tuple[str, Any]:
    """A money input: a JSON string of ASCII digits with an optional point and at most
    `decimals` places, nothing else (no number, exponent, sign, underscore, space or other
    script's digits, all of which Python's Decimal would take). Returns the pattern and a
    validator that hands pydantic only strings it has already checked."""
    pattern = rf"^[0-9]{{1,{integer_digits}}}(\.[0-9]{{1,{decimals}}})?$"
    compiled = re.compile(pattern)
    example = f"{'4.50' if decimals > 2 else '250.00'}"
    message = (
        f"{name} must be a string of ASCII digits, at most {integer_digits} before the point "
        f'and {decimals} after it, like "{example}" (a JSON number is not accepted)'
    )

    def check(value: object) -> object:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise PydanticCustomError("money_format", message)
        return value

    return pattern, check


def _money_out(decimals: int) -> Any:
    step = Decimal(1).scaleb(-decimals)
    return PlainSerializer(lambda value: format(value.quantize(step), "f"), return_type=str)


_CPM_PATTERN, _check_cpm = _money("cpm", 8, 4)
_CAP_PATTERN, _check_cap = _money("cap", 10, 2)
CPM_OUT_PATTERN = r"^[0-9]{1,8}\.[0-9]{4}$"
MONEY_OUT_PATTERN = r"^[0-9]{1,10}\.[0-9]{2}$"
# Earnings and their sums: a tier with no cap pays for any view count a platform can report
# (NUMERIC(28,2) on posts), so up to 26 digits before the point.
EARNINGS_OUT_PATTERN = r"^[0-9]{1,26}\.[0-9]{2}$"

# Request fields: strings with a pattern in the schema, Decimal in Python.
Cpm = Annotated[
    Decimal,
    BeforeValidator(_check_cpm),
    WithJsonSchema({"type": "string", "pattern": _CPM_PATTERN}),
    Field(description="Amount per 1,000 views, as a decimal string.", examples=["4.50"]),
]
Cap = Annotated[
    Decimal,
    BeforeValidator(_check_cap),
    WithJsonSchema({"type": "string", "pattern": _CAP_PATTERN}),
    Field(description="Most one video can earn, as a decimal string.", examples=["250.00"]),
]
# Answer fields: always a string with the column's scale ("4.5000", "250.00").
CpmOut = Annotated[
    Decimal,
    _money_out(4),
    WithJsonSchema({"type": "string", "pattern": CPM_OUT_PATTERN}),
    Field(description="Amount per 1,000 views.", examples=["4.5000"]),
]
MoneyOut = Annotated[
    Decimal,
    _money_out(2),
    WithJsonSchema({"type": "string", "pattern": MONEY_OUT_PATTERN}),
    Field(examples=["250.00"]),
]


Earnings = Annotated[
    Decimal,
    _money_out(2),
    WithJsonSchema({"type": "string", "pattern": EARNINGS_OUT_PATTERN}),
    Field(examples=["1250.00"]),
]

# Dates and times are ISO 8601 text with a plausible year (far-off years overflow date
# arithmetic and PostgreSQL's range; none is real). Lax validation would read a number, or a
# string of digits, as a Unix time: the pattern, checked before parsing, refuses both, and it
# is the pattern the schema shows.
_YEAR = r"(19[7-9][0-9]|[2-8][0-9]{3}|9000)"
DAY_PATTERN = rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"
MOMENT_PATTERN = rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}[Tt ][0-9]{{2}}:[0-9]{{2}}"


def _text_matching(pattern: str, example: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if not isinstance(value, str) or not compiled.match(value):
            raise PydanticCustomError(
                "date_format",
                f"must be ISO 8601 text with a year from 1970 to 9000, like {example}",
            )
        return value

    return BeforeValidator(check)


Day = Annotated[
    date,
    _text_matching(DAY_PATTERN, "2026-01-31"),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]
# A point in time in a query: with its UTC offset (a naive time is ambiguous), plausible.
Moment = Annotated[
    AwareDatetime,
    _text_matching(MOMENT_PATTERN, "2026-01-31T12:00:00Z"),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": MOMENT_PATTERN}),
]
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


def _whole_number(value: object) -> object:
    # JSON Schema's integer includes 3.0; strict validation would refuse it. Only that: a
    # string or a boolean still is not a number.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Put last in an integer field's Annotated (after its bounds): a JSON integer, 3 or 3.0.
WHOLE_NUMBER = BeforeValidator(_whole_number)


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
    # Every field of an answer is always present, defaults included: required in the schema.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class Page(Output, Generic[T]):
    """Every list's shape. Each list subclasses it with a plain name (`PostPage`), so the
    schema's components and the generated clients' classes carry no generic brackets."""

    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page. A cursor "
        "only works with the query parameters of the page it came from."
    )
