"""Who posted a video, against the creator its post names: the creator's own video may
sync a renamed handle or bind its user id; anyone else's video holds the post. Pure; the
result writer applies it on each fetch (services/authorship.py).

A creator is identified by (platform, platform user id) once that is known; the handle is a
display name that follows renames. Until the user id is known, only a video whose author
has the creator's handle can bind it."""

from dataclasses import dataclass
from enum import StrEnum


def same_handle(a: str, b: str) -> bool:
    """Handles compare without case and without a leading @."""
    return a.removeprefix("@").casefold() == b.removeprefix("@").casefold()


class Authorship(StrEnum):
    SAME = "same"  # the creator's own video, nothing to change
    RENAMED = "renamed"  # the creator's own video, under a new handle: sync it
    BIND = "bind"  # the creator's first answer naming its user id: remember it
    MISMATCH = "mismatch"  # someone else's video: hold the post, leave the creator alone
    UNKNOWN = "unknown"  # the answer names no author at all


@dataclass(frozen=True)
class Author:
    handle: str | None
    user_id: str | None


def verify_author(creator: Author, found: Author) -> Authorship:
    """Who posted the video, against whom the post claims posted it."""
    if found.handle is None and found.user_id is None:
        return Authorship.UNKNOWN
    if creator.user_id is not None:
        if found.user_id is not None:
            if found.user_id != creator.user_id:
                return Authorship.MISMATCH
            renamed = found.handle is not None and not same_handle(
                found.handle, creator.handle or ""
            )
            return Authorship.RENAMED if renamed else Authorship.SAME
        # An answer without the user id can only be checked by handle.
        same = found.handle is not None and same_handle(found.handle, creator.handle or "")
        return Authorship.SAME if same else Authorship.MISMATCH
    if found.handle is None or not same_handle(found.handle, creator.handle or ""):
        return Authorship.MISMATCH
    return Authorship.BIND if found.user_id is not None else Authorship.SAME


def _who(author: Author) -> str:
    if author.handle is not None:
        return f"@{author.handle.removeprefix('@')}"
    return f"account {author.user_id}"


def mismatch_reason(creator: Author, found: Author, *, owner: str | None = None) -> str:
    """Why a video is held as someone else's, in words that name two different people: the
    author the platform reported, and the creator the post is for. `owner` is the handle of
    another creator of the organization whose account the author is."""
    mine = _who(creator)
    if owner is not None:
        return (
            f"The platform says account {found.user_id} posted this video as {_who(found)}; "
            f"that account is creator @{owner.removeprefix('@')}'s in this organization, so "
            f"it cannot also be creator {mine}'s."
        )
    if (
        found.handle is not None
        and creator.handle is not None
        and same_handle(found.handle, creator.handle)
    ):
        # One handle, two accounts: the handle was reused, or is an impostor's.
        return (
            f"The platform says account {found.user_id} posted this video as "
            f"{_who(found)}; creator {mine} is account {creator.user_id or 'not yet known'}."
        )
    return f"The platform says {_who(found)} posted this video, not {mine}."


def disputed_reason(creator: Author, accounts: list[str]) -> str:
    """Several answers of one fetch name different accounts for the creator's handle: none is
    bound, and each of those videos waits for a person."""
    return (
        f"The platform names {_who(creator)} as the author with different accounts "
        f"({', '.join(sorted(set(accounts)))}) on this creator's videos; none is taken as the "
        "creator's until someone checks."
    )
