"""Integrity flags raised on every applied fetch (app/domain/integrity.py says which): each
once per post and code. A campaign's `hold_on_flags` codes also raise a hold of the same
code, so the post waits in `held` at its deadline (services/flags.py resolves them)."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import integrity
from app.domain.integrity import Observed, Thresholds
from app.platforms.contract import VideoStats
from app.repositories import flags, provenance
from app.repositories.claims import DuePost
from app.repositories.flags import NewFlag
from app.repositories.holds import NewHold
from app.services import transitions
from app.webhooks import outbox
from app.webhooks.events import EventType

FLAGS_RAISED = Counter(
    "viewledger_flags_raised_total", "Integrity flags raised, by code.", ["code"]
)
for _code in integrity.FlagCode:  # each at 0 from the start: a rate sees none, not nothing
    FLAGS_RAISED.labels(_code.value)


async def check(
    session: AsyncSession,
    fetched: Sequence[tuple[DuePost, VideoStats]],
    snapshots: dict[uuid.UUID, int],
    now: datetime,
    t: Thresholds,
    listening: set[uuid.UUID],
) -> list[NewHold]:
    """Raise the flags these applied fetches call for, and write their `post.flagged` events
    for the organizations listening (each post as it stands now, before the holds and the
    decision the rest of the write may bring). Returns the holds the posts' campaigns want
    for them (for the caller to raise with its other holds)."""
    bases = await flags.spike_bases(
        session,
        [
            p.id
            for p, s in fetched
            if s.views >= t.spike_min_views and integrity.FlagCode.VIEW_SPIKE not in p.flags
        ],
        now - t.spike_window,
        now,
    )
    candidates = [
        (post, raised)
        for post, stats in fetched
        for raised in integrity.called_for(
            post.status,
            Observed(snapshots.get(post.id), stats.views, now),
            post.locked_views,
            bases.get(post.id),
            stats.likes,
            stats.comments,
            t,
        )
        if raised.code not in post.flags
    ]
    new = await flags.raise_many(
        session,
        [
            NewFlag(post.id, post.organization_id, r.code, r.reason, r.evidence)
            for post, r in candidates
        ],
        now,
    )
    landed = {(f.post_id, f.code) for f in new}
    raised_now = [(post, r) for post, r in candidates if (post.id, r.code) in landed]
    if not raised_now:
        return []
    for _, r in raised_now:
        FLAGS_RAISED.labels(r.code.value).inc()
    await provenance.keep(session, [i for _, r in raised_now for i in r.snapshot_ids])
    flagged = [(post.organization_id, post.id, EventType.POST_FLAGGED) for post, _ in raised_now]
    await outbox.emit_many(session, await transitions.events(session, flagged, listening), now=now)
    return [
        NewHold(
            post.id, post.organization_id, r.code.value, f"Flag {r.code}: {r.reason}", r.evidence
        )
        for post, r in raised_now
        if r.code.value in post.hold_on_flags
    ]
