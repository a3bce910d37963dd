"""Writing one batch of fetch results, in one transaction, in three steps: read what the
decisions need (repositories/result_reads.py: the batch's posts and creators locked, a
snapshot id reserved for each applied fetch, the flag and hold codes each post has, the spike
bases), decide it all at once (app/domain/refresh.py, pure: the schedules, the drops held
back, the flags, who posted each video, the holds, the deadline decisions), then write what
was decided: the stats, the flags (with their `post.flagged` events, each post as it stands
before the holds and the decisions), the creators' renames and binds, the holds, the
decisions, the runs' counts, and the batch's other events. The refresher's result queue
calls `write` once per batch."""

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter as Metric
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import refresh
from app.domain.integrity import FlagCode, Raised
from app.domain.policy import Policy
from app.domain.refresh import DuePost, Failed
from app.domain.transitions import evidence_snapshots
from app.platforms.contract import FetchError, FetchResult, Skipped, VideoStats, outcome_code
from app.repositories import creators, flags, holds, provenance, result_reads, runs
from app.repositories import stats as stats_repo
from app.repositories import transitions as transitions_repo
from app.services import authorship, decisions, run_presenter, transitions
from app.webhooks import outbox
from app.webhooks.events import EventType

# The outcome of a fetch whose result the database refused (see unwritable()).
WRITE_FAILED = "write_failed"

FLAGS_RAISED = Metric("viewledger_flags_raised_total", "Integrity flags raised, by code.", ["code"])
for _code in FlagCode:  # each at 0 from the start: a rate sees none, not nothing
    FLAGS_RAISED.labels(_code.value)


def outcome_of(result: FetchResult) -> str:
    if isinstance(result, VideoStats):
        return "refreshed"
    return "skipped" if isinstance(result, Skipped) else "failed"


async def write(
    session: AsyncSession,
    items: list[tuple[DuePost, FetchResult]],
    now: datetime,
    policy: Policy,
) -> Counter[str]:
    """Write one batch of results. Returns counts by outcome."""
    items = refresh.newest_claims(items)
    fetched = [(p, r) for p, r in items if isinstance(r, VideoStats)]
    failed = [
        Failed(p, r.kind.value, outcome_code(r), r.message.replace("\x00", "")[:1000])
        for p, r in items
        if isinstance(r, FetchError)
    ]
    skipped = [(p, outcome_code(r)) for p, r in items if isinstance(r, Skipped)]
    t = policy.integrity
    # 1. Read. Who listens is read once: the batch's events are built for those alone.
    listening = await outbox.listening(session, {post.organization_id for post, _ in items})
    seen = await result_reads.read(
        session,
        [p for p, s in fetched if not refresh.unconfirmed(p, s, policy)],
        refresh.accounts(fetched),
        refresh.spike_checked(fetched, t),
        now - t.spike_window,
        now,
    )
    # 2. Decide.
    todo = refresh.decide(fetched, failed, skipped, seen, now, policy)
    # 3. Write: the fetches themselves (stats and snapshots, drops held back, failures,
    # skips), then what the stats call for, then the runs' counts and the events.
    stored = await stats_repo.write_stats(
        session, todo.applied, todo.next_at, now, applied=True, snapshot_ids=seen.snapshot_ids
    )
    snapshots = stored.snapshots
    unconfirmed = (
        await stats_repo.write_stats(
            session, todo.drops, [todo.recheck] * len(todo.drops), now, applied=False
        )
    ).snapshots
    failures = await stats_repo.record_failures(session, todo.failures, now)
    skips = await stats_repo.record_skips(session, todo.skips, now)
    written = {*snapshots, *unconfirmed, *failures, *skips}  # rows whose lease still held
    written_at = {**snapshots, **unconfirmed}
    # The flags, with their `post.flagged` events: each post as it stands now, before the
    # holds and the decisions below.
    new_flags = [
        flags.NewFlag(p.id, p.organization_id, r.code, r.reason, r.evidence) for p, r in todo.flags
    ]
    raised = await flags.raise_many(session, new_flags, now)
    flagged, flag_snapshots = await _flagged(session, todo.flags, raised, listening)
    await outbox.emit_many(session, flagged, now=now)
    renamed = await creators.rename_many(session, todo.renames, now)
    await creators.bind_many(session, todo.binds, now)
    await holds.raise_many(session, todo.holds, now)
    # The batch's posts were locked in id order by the read (result_reads).
    decided = await transitions_repo.apply(session, todo.decisions, now, locked=True)
    # The raw answers, those the flags and decisions that landed name kept at once (an
    # answer of an earlier fetch a flag names is kept where it is).
    kept = {*flag_snapshots, *evidence_snapshots(decided)}
    answers = [
        (written_at[p.id], now, s.raw)
        for p, s in (*todo.applied, *todo.drops)
        if p.id in written_at and s.raw
    ]
    await provenance.store(session, answers, kept)
    await provenance.keep(session, sorted(kept - {a[0] for a in answers}))
    decisions.count_late(decided)
    for status, n in Counter(item.transition.to_status for item in decided).items():
        decisions.TRANSITIONS.labels(status.value).inc(n)
    # Counted toward their runs (the runs no post waits for any more finish), then every
    # other event of the batch in one write.
    landed = [(p, r.source.value, outcome_of(r)) for p, r in items if p.id in written]
    keyed = Counter(
        (p.refresh_run_id, source, outcome)
        for p, source, outcome in landed
        if p.refresh_run_id is not None
    )
    finished = await runs.count_results(session, keyed, now) if keyed else []
    await outbox.emit_many(
        session,
        [
            *await authorship.renamed_events(session, renamed, listening),
            *await transitions.events(session, transitions.changed(decided), listening),
            *await run_presenter.finished_events(session, finished, listening),
        ],
        now=now,
    )
    # Last: every writer adds to these days, and their rows stay locked until the commit.
    await stats_repo.add_daily_views(session, stored.gains, now)
    return Counter(outcome for _, _, outcome in landed)


async def _flagged(
    session: AsyncSession,
    new: Sequence[tuple[DuePost, Raised]],
    raised: Sequence[flags.NewFlag],
    listening: set[uuid.UUID],
) -> tuple[list[outbox.Event], list[int]]:
    """The `post.flagged` events of the flags that landed, for the organizations listening,
    and the snapshots those flags name (their raw answers are kept for good)."""
    landed = {(f.post_id, f.code) for f in raised}
    raised_now = [(post, r) for post, r in new if (post.id, r.code) in landed]
    if not raised_now:
        return [], []
    for _, r in raised_now:
        FLAGS_RAISED.labels(r.code.value).inc()
    flagged = [(post.organization_id, post.id, EventType.POST_FLAGGED) for post, _ in raised_now]
    named = [i for _, r in raised_now for i in r.snapshot_ids]
    return await transitions.events(session, flagged, listening), named


async def unwritable(
    session: AsyncSession, post: DuePost, error: str, now: datetime, policy: Policy
) -> None:
    """A result the database refused for this post alone: recorded as the post's error, its
    lease released and its next fetch scheduled like any failure's, so it neither blocks
    its batch nor comes back at once."""
    message = f"The result could not be stored: {error}"
    failure = refresh.failure(Failed(post, WRITE_FAILED, WRITE_FAILED, message), now, policy)
    await stats_repo.record_failures(session, [failure], now)
