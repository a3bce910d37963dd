"""What the domain says when it says no. Services and repositories raise these and know
nothing of HTTP; app/errors.py maps each kind to its status and problem body."""

from typing import Any, TypeVar

T = TypeVar("T")


class DomainError(Exception):
    """A rule refused the request; `code` is stable and machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class NotFound(DomainError):
    """No such resource in the caller's organization (another tenant's looks the same)."""

    def __init__(self, resource: str) -> None:
        super().__init__(f"{resource}_not_found", f"No {resource.replace('_', ' ')} with that id.")


class Conflict(DomainError):
    """The request is well-formed but the resource's state does not allow it. `extra` names
    the resources it conflicts with (they go into the problem)."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(code, detail)
        self.extra = extra


class InvalidInput(DomainError):
    """A value of the request is not acceptable; `field` names it."""

    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(code, detail)
        self.field = field


class Unavailable(DomainError):
    """Something this request depends on outside the service failed; the same request may
    succeed later."""


class InvalidCursor(DomainError):
    def __init__(self, *, mismatch: bool = False) -> None:
        detail = (
            "The cursor belongs to a list with other filters or another sort; send the same "
            "query parameters as for the page it came from, or start over without a cursor."
            if mismatch
            else "The cursor is not one this API returned."
        )
        super().__init__("invalid_cursor", detail)


def found(value: T | None, resource: str) -> T:
    """`value`, or NotFound: repositories answer None, callers that need the row raise."""
    if value is None:
        raise NotFound(resource)
    return value
