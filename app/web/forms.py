"""Setup forms (campaigns, tiers, members, creators): what a person typed, checked by the
API's own request schema, with each complaint shown beside its field. A form that cannot be
saved comes back as it was sent, with why (a 200: the person puts it right there)."""

import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.domain.errors import DomainError, InvalidInput
from app.errors import ApiError
from app.web.actions import Refused

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

# A rule's code that is about one field of the form (the API names it in the problem's
# `errors` or says so in words); anything else is said above the form.
CODE_FIELDS = {
    "currency_locked": "currency",
    "cpm_tier_exists": "name",
    "creator_exists": "handle",
    "member_exists": "creator_id",
    "creator_not_found": "creator_id",
}

# Words for a field whose schema's own complaint would read as a regular expression.
PATTERN_HINTS = {
    "currency": "Three letters: an ISO 4217 code such as USD or EUR.",
    "cpm": 'Digits with at most 4 decimals, like "4.50" (up to 8 digits before the point).',
    "cap": 'Digits with at most 2 decimals, like "250.00" (up to 10 digits before the point).',
    "handle": "1 to 64 letters, digits, '_' or '.' (a leading @ is fine).",
    "starts_on": "A date, like 2026-01-31.",
    "ends_on": "A date, like 2026-01-31.",
    "name": "Give a name: up to 200 characters, not only spaces.",
}

# Rules across fields, said by the schema or the service about one of them.
ACROSS = {"ends_on must not be before starts_on": ("ends_on", "The end is before the start.")}


@dataclass
class Form:
    """One form on a page: its values as sent (or as stored), and what is wrong with them."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""  # about the whole form

    def value(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default)

    def error(self, name: str) -> str:
        return self.errors.get(name, "")


class Invalid(Exception):
    """The form as sent cannot be saved; `form` says why, field by field."""

    def __init__(self, form: Form) -> None:
        super().__init__(form.message or "; ".join(form.errors.values()))
        self.form = form


def _words(error: Any) -> str:
    name = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] in (
        "string_pattern_mismatch",
        "string_too_short",
        "money_format",
        "date_format",
        "value_error",
    ):
        hint = PATTERN_HINTS.get(name)
        if hint is not None:
            return hint
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def checked(model: type[M], values: dict[str, Any], sent: dict[str, Any]) -> M:
    """`values` through the API's request schema; Invalid with each field's complaint
    (`sent`: what to show the form again with)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        form = Form(dict(sent))
        for error in exc.errors():
            loc = error["loc"]
            name = str(loc[0]) if loc else ""
            if name and name in values:
                form.errors.setdefault(name, _words(error))
            else:  # a rule across fields (ends_on before starts_on)
                message = str(error["msg"]).removeprefix("Value error, ")
                name, words = ACROSS.get(message, ("", _words(error)))
                if name:
                    form.errors.setdefault(name, words)
                else:
                    form.message = form.message or words
        raise Invalid(form) from None


def refusal(exc: DomainError | ApiError, sent: dict[str, Any]) -> Invalid:
    """A service's refusal, beside the field it is about when it names one."""
    form = Form(dict(sent))
    name = exc.field if isinstance(exc, InvalidInput) else None
    name = name or CODE_FIELDS.get(exc.code)
    detail = ACROSS.get(exc.detail, (name, exc.detail))[1]
    if name is not None and name in sent:
        form.errors[name] = detail
    else:
        form.message = detail
    return Invalid(form)


async def refusing(sent: dict[str, Any], done: Awaitable[R]) -> R:
    """What a dashboard action (app.web.actions) refused, as the form's complaint (beside
    its field when it names one)."""
    try:
        return await done
    except Refused as exc:
        raise Invalid(Form(dict(sent), message=exc.detail)) from None
    except (DomainError, ApiError) as exc:
        raise refusal(exc, sent) from None


def whole_number(text: str) -> int | str | None:
    """A number field as the API's integer: blank is "none" (null), digits are the number,
    anything else is passed on for the schema to refuse in words."""
    text = text.strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"[0-9]{1,12}", text) else text


def blank_none(text: str) -> str | None:
    text = text.strip()
    return text or None
