"""Who posted each fetched video, against the creator its post names (app/domain/authorship.py
decides): the creator's own video syncs a renamed handle (with a history row and a
`creator.renamed` event) or binds the user id seen for the first time; anyone else's video
holds the post and leaves the creator record alone."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.authorship import (
    Author,
    Authorship,
    disputed_reason,
    mismatch_reason,
    verify_author,
)
from app.domain.enums import HoldCode
from app.platforms.contract import VideoStats
from app.repositories import creators
from app.repositories.claims import DuePost
from app.repositories.holds import NewHold
from app.schemas.creators import CreatorOut
from app.webhooks import outbox
from app.webhooks.events import EventType


@dataclass(frozen=True)
class _Change:
    post: DuePost
    stats: VideoStats
    old: str | None = None  # a rename's: the creator's handle as stored


def _found(stats: VideoStats) -> Author:
    return Author(stats.handle, stats.platform_user_id)


def _mismatch(
    post: DuePost, stats: VideoStats, creator: Author, reason: str | None = None
) -> NewHold:
    return NewHold(
        post_id=post.id,
        organization_id=post.organization_id,
        code=HoldCode.AUTHOR_MISMATCH,
        reason=reason or mismatch_reason(creator, _found(stats)),
        evidence={
            "expected": {"handle": creator.handle, "platform_user_id": creator.user_id},
            "found": {"handle": stats.handle, "platform_user_id": stats.platform_user_id},
        },
    )


@dataclass(frozen=True)
class Verified:
    holds: list[NewHold]  # for the videos that are not their creator's
    renamed: Sequence[Row[Any]]  # creators.rename_many's rows, for `renamed_events`


async def verify(
    session: AsyncSession, ok: list[tuple[DuePost, VideoStats]], now: datetime
) -> Verified:
    """Sync or bind the creators whose own videos these are; return the holds for the rest,
    and the renames made (the caller announces them with its other events).

    Each author is checked against the creator as stored now, in the transaction that writes
    the result, never against the claim's copy: an earlier write of the same claim, or
    another worker, may have bound the creator since. A creator not yet bound is bound once,
    by the first of its videos the platform says it posted under its handle, and then every
    video of the batch is decided by that user id."""
    if not ok:
        return Verified([], [])
    stored = await creators.authors(session, {post.creator_id for post, _ in ok})
    holds: list[NewHold] = []
    renames: dict[uuid.UUID, _Change] = {}
    binds: dict[uuid.UUID, _Change] = {}
    disputed: dict[uuid.UUID, set[str]] = {}
    clashes: set[uuid.UUID] = set()
    after_bind: list[tuple[DuePost, VideoStats]] = []  # decided once the binds are done
    for post, stats in ok:
        creator = stored.get(post.creator_id)
        if creator is None:  # deleted since the claim: nothing to check against
            continue
        verdict = verify_author(creator, _found(stats))
        if creator.user_id is None and stats.platform_user_id is not None:
            after_bind.append((post, stats))
            if verdict is Authorship.BIND:
                seen = binds.setdefault(post.creator_id, _Change(post, stats))
                disputed.setdefault(post.creator_id, set()).add(stats.platform_user_id)
                if seen.stats.platform_user_id != stats.platform_user_id:
                    clashes.add(post.creator_id)  # one handle, two accounts: a person decides
        elif verdict is Authorship.MISMATCH:
            holds.append(_mismatch(post, stats, creator))
        elif verdict is Authorship.RENAMED:
            seen = renames.setdefault(post.creator_id, _Change(post, stats, creator.handle))
            if seen.stats.handle != stats.handle:
                clashes.add(post.creator_id)  # two answers disagree: a person sorts it out
    for creator_id in clashes:
        renames.pop(creator_id, None)
        binds.pop(creator_id, None)
    renamed = await creators.rename_many(
        session,
        [
            creators.Rename(
                c.post.creator_id, c.stats.platform_user_id, c.old, c.stats.handle, c.post.id
            )
            for c in renames.values()
        ],
        now,
    )
    bound = await creators.bind_many(
        session,
        [
            creators.Bind(c.post.creator_id, c.stats.platform_user_id, c.stats.handle)
            for c in binds.values()
        ],
        now,
    )
    for creator_id in bound:
        stored[creator_id] = Author(
            stored[creator_id].handle, binds[creator_id].stats.platform_user_id
        )
    # Not bound: another worker bound it first (read it again), or another creator of the
    # organization has that account.
    stored.update(await creators.authors(session, set(binds) - bound))
    for post, stats in after_bind:
        creator = stored[post.creator_id]
        if post.creator_id in clashes:
            holds.append(
                _mismatch(
                    post, stats, creator, disputed_reason(creator, list(disputed[post.creator_id]))
                )
            )
            continue
        verdict = verify_author(creator, _found(stats))
        if verdict is Authorship.MISMATCH:
            holds.append(_mismatch(post, stats, creator))
        elif verdict is Authorship.BIND:  # still unbound: the account is another creator's
            assert stats.platform_user_id is not None
            owner = await creators.account_holder(
                session,
                post.organization_id,
                post.platform,
                stats.platform_user_id,
                other_than=post.creator_id,
            )
            holds.append(
                _mismatch(
                    post,
                    stats,
                    creator,
                    mismatch_reason(creator, _found(stats), owner=owner) if owner else None,
                )
            )
    return Verified(holds, renamed)


async def renamed_events(
    session: AsyncSession, renamed: Sequence[Row[Any]], listening: set[uuid.UUID]
) -> list[outbox.Event]:
    """`creator.renamed`: the creator as the API shows it, with its previous handle, for
    the organizations listening (`outbox.listening`)."""
    wanted = [row for row in renamed if row.organization_id in listening]
    if not wanted:
        return []
    stored = await creators.by_ids(session, [r.id for r in wanted])
    return [
        outbox.Event(
            row.organization_id,
            EventType.CREATOR_RENAMED,
            {
                **CreatorOut.model_validate(stored[row.id]).model_dump(mode="json"),
                "previous_handle": row.old,
            },
        )
        for row in wanted
    ]
