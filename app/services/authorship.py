"""Who posted each fetched video, against the creator its post names (app/domain/authorship.py
decides): the creator's own video syncs a renamed handle (with a history row and a
`creator.renamed` event) or binds the user id seen for the first time; anyone else's video
holds the post and leaves the creator record alone. These functions decide; the result
writer writes the renames and binds with its other writes (as it writes the stats its plan
decided), so the clock reaches only the writes."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
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
class Verdicts:
    """What the authors of a batch's videos decide before anything is written: the holds for
    the videos that are not their creator's, and the renames and first binds to write (the
    result writer writes them with its other writes). The videos of a creator not yet bound
    wait for the binds: `after_binds` decides them."""

    holds: list[NewHold]
    renames: list[creators.Rename]
    binds: list[creators.Bind]
    waiting: list[tuple[DuePost, VideoStats]] = field(default_factory=list)
    stored: dict[uuid.UUID, Author] = field(default_factory=dict)  # the creators as read
    disputed: dict[uuid.UUID, set[str]] = field(default_factory=dict)  # user ids a handle had
    clashes: set[uuid.UUID] = field(default_factory=set)  # creators a person must sort out


async def verify(session: AsyncSession, ok: list[tuple[DuePost, VideoStats]]) -> Verdicts:
    """Decide who posted each video: the creator's own video syncs a renamed handle or binds
    the user id seen for the first time; anyone else's holds the post.

    Each author is checked against the creator as stored now, in the transaction that writes
    the result, never against the claim's copy: an earlier write of the same claim, or
    another worker, may have bound the creator since. A creator not yet bound is bound once,
    by the first of its videos the platform says it posted under its handle, and then every
    video of the batch is decided by that user id."""
    if not ok:
        return Verdicts([], [], [])
    stored = await creators.authors(session, {post.creator_id for post, _ in ok})
    holds: list[NewHold] = []
    renames: dict[uuid.UUID, _Change] = {}
    binds: dict[uuid.UUID, _Change] = {}
    disputed: dict[uuid.UUID, set[str]] = {}
    clashes: set[uuid.UUID] = set()
    waiting: list[tuple[DuePost, VideoStats]] = []  # decided once the binds are done
    for post, stats in ok:
        creator = stored.get(post.creator_id)
        if creator is None:  # deleted since the claim: nothing to check against
            continue
        verdict = verify_author(creator, _found(stats))
        if creator.user_id is None and stats.platform_user_id is not None:
            waiting.append((post, stats))
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
    return Verdicts(
        holds,
        [
            creators.Rename(
                c.post.creator_id, c.stats.platform_user_id, c.old, c.stats.handle, c.post.id
            )
            for c in renames.values()
        ],
        [
            creators.Bind(c.post.creator_id, c.stats.platform_user_id, c.stats.handle)
            for c in binds.values()
        ],
        waiting,
        stored,
        disputed,
        clashes,
    )


async def after_binds(
    session: AsyncSession, verdicts: Verdicts, bound: set[uuid.UUID]
) -> list[NewHold]:
    """The holds for the videos that waited for the binds (`creators.bind_many` returned
    `bound`), each decided by the user id its creator has now."""
    stored = dict(verdicts.stored)
    for bind in verdicts.binds:
        if bind.creator_id in bound:
            stored[bind.creator_id] = Author(stored[bind.creator_id].handle, bind.user_id)
    # Not bound: another worker bound it first (read it again), or another creator of the
    # organization has that account.
    stored.update(await creators.authors(session, {b.creator_id for b in verdicts.binds} - bound))
    holds: list[NewHold] = []
    for post, stats in verdicts.waiting:
        creator = stored[post.creator_id]
        if post.creator_id in verdicts.clashes:
            disputed = list(verdicts.disputed[post.creator_id])
            holds.append(_mismatch(post, stats, creator, disputed_reason(creator, disputed)))
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
    return holds


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
