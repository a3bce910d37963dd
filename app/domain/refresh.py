"""What one batch of fetch results decides, as pure functions, before anything is written:
each post's next fetch, the suspicious drops held back, the flags the stats call for, who
posted each video (renames, first binds, holds), the campaign window's holds, which of the
holds and flags are new, and the deadline decisions the new stats bring. The result writer
(services/refresh_results.py) reads what these need first (repositories/result_reads.py),
calls `decide` once, then writes what it returns; the clock reaches the writes only through
the values decided here.

The claimed post (`DuePost`) and the values the writes take live here too, below both the
writer and the repositories that write them."""

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from app.domain import integrity, schedule
from app.domain.authorship import (
    Author,
    Authorship,
    disputed_reason,
    mismatch_reason,
    verify_author,
)
from app.domain.campaigns import outside_campaign_window
from app.domain.decisions import candidate, deadline_of, transition
from app.domain.enums import HoldCode, Platform, PostStatus
from app.domain.integrity import Observed, Raised
from app.domain.policy import Policy
from app.domain.transitions import Transition


@dataclass(frozen=True)
class DuePost:
    """A claimed post with what fetching and deciding it needs."""

    id: uuid.UUID
    organization_id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: Platform
    platform_post_id: str
    handle: str  # the creator's, to build TikTok's URL; authorship reads the creator anew
    status: PostStatus
    published_at: datetime | None
    created_at: datetime
    views: int
    cpm_tier_id: uuid.UUID | None
    cpm: Decimal | None
    cap: Decimal | None
    tier_name: str | None
    min_views: int | None  # campaign override
    finalize_after_days: int | None  # campaign override
    starts_on: date | None  # the campaign's dates: a video published outside them is held
    ends_on: date | None
    hold_on_flags: list[str]  # the campaign's flag codes that act as holds
    open_holds: int
    flags: list[str]  # its open flags' codes
    locked_views: int | None
    unconfirmed_views: int | None  # a suspicious drop awaiting a second answer
    last_refreshed_at: datetime | None  # None: this fetch is its first good one
    consecutive_failures: int
    refresh_run_id: uuid.UUID | None
    decide_after: datetime | None  # restored by an admin: decide on stats from after this
    # The claim's lease, which is also its token: a write only lands while the row still
    # carries it, so a worker that outlived its lease cannot overwrite its successor's work.
    lease: datetime


class Answer(Protocol):
    """What the decisions read of a provider's answer (platforms.contract.VideoStats)."""

    @property
    def views(self) -> int: ...
    @property
    def likes(self) -> int | None: ...  # None: hidden (YouTube), unknown
    @property
    def comments(self) -> int: ...
    @property
    def handle(self) -> str | None: ...
    @property
    def platform_user_id(self) -> str | None: ...
    @property
    def published_at(self) -> datetime | None: ...


A = TypeVar("A", bound=Answer)
R = TypeVar("R")  # any result of a fetch (stats, an error, a skip)


@dataclass(frozen=True)
class NewMark:
    """A hold or a flag to raise on a post: its code, why, and on what evidence."""

    post_id: uuid.UUID
    organization_id: uuid.UUID
    code: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """A post's failed fetch as it is recorded: the error and the next fetch."""

    post: DuePost
    code: str
    outcome: str
    message: str
    next_refresh_at: datetime | None


@dataclass(frozen=True)
class Skip:
    post: DuePost
    outcome: str
    next_refresh_at: datetime | None


@dataclass(frozen=True)
class Rename:
    creator_id: uuid.UUID
    user_id: str | None
    old: str | None  # the handle as stored
    new: str | None  # the handle the platform reports
    post_id: uuid.UUID | None  # the video that told (None: a channel check, domain/handles.py)


@dataclass(frozen=True)
class Bind:
    creator_id: uuid.UUID
    user_id: str | None
    handle: str | None


@dataclass(frozen=True)
class Failed:
    """A failed fetch before its next fetch is planned: (code, outcome, message)."""

    post: DuePost
    code: str
    outcome: str
    message: str


# (organization, platform, platform user id): whose account it is.
Account = tuple[uuid.UUID, Platform, str]


@dataclass(frozen=True)
class Seen:
    """What the write reads before it decides (repositories/result_reads.py), in the
    transaction that writes, with the batch's posts and creators locked."""

    held: set[uuid.UUID]  # posts that still carry the claim's lease: their writes land
    snapshot_ids: dict[uuid.UUID, int]  # reserved for each applied fetch's snapshot
    flag_codes: dict[uuid.UUID, set[str]]  # every flag code each post has, open or resolved
    hold_codes: dict[uuid.UUID, set[str]]  # every hold code each post has, open or cleared
    authors: dict[uuid.UUID, Author]  # the batch's creators as stored
    holders: dict[Account, dict[uuid.UUID, str | None]]  # account -> creator id -> handle
    spike_bases: dict[uuid.UUID, Observed]


@dataclass(frozen=True)
class Batch(Generic[A]):
    """Everything one batch's answers decide, in the order the writer writes it."""

    applied: list[tuple[DuePost, A]]
    next_at: list[datetime | None]
    drops: list[tuple[DuePost, A]]
    recheck: datetime
    failures: list[Failure]
    skips: list[Skip]
    flags: list[tuple[DuePost, Raised]]  # the new flags, each once per post and code
    renames: list[Rename]
    binds: list[Bind]
    holds: list[NewMark]  # every hold the answers call for (the writer keeps the new ones)
    decisions: list[Transition]  # the deadline decisions of the posts whose deadline came


def _deadline(post: DuePost, published_at: datetime | None, policy: Policy) -> datetime:
    return deadline_of(
        policy,
        campaign_min_views=post.min_views,
        campaign_finalize_days=post.finalize_after_days,
        aged_from=published_at or post.published_at or post.created_at,
        decide_after=post.decide_after,
    )


def next_without_stats(
    post: DuePost, now: datetime, policy: Policy, *, failed: bool
) -> datetime | None:
    """The next fetch of a post this fetch told nothing new about; a failure counts toward
    the streak that shortens the retry."""
    failures = post.consecutive_failures + 1 if failed else 0
    return schedule.next_refresh(
        post.status,
        post.published_at or post.created_at,
        now,
        policy.cadence,
        deadline=_deadline(post, None, policy),
        failures=failures,
    )


def failure(f: Failed, now: datetime, policy: Policy) -> Failure:
    next_at = next_without_stats(f.post, now, policy, failed=True)
    return Failure(f.post, f.code, f.outcome, f.message, next_at)


def unconfirmed(post: DuePost, answer: Answer, policy: Policy) -> bool:
    """A suspicious drop not yet confirmed: far below the count the post has (a first fetch
    has none), where the fetch before it was not one already (this one then confirms it)."""
    if post.last_refreshed_at is None or post.unconfirmed_views is not None:
        return False
    return integrity.suspicious_drop(answer.views, post.views, policy.integrity)


def newest_claims(items: Sequence[tuple[DuePost, R]]) -> list[tuple[DuePost, R]]:
    """One answer per post, its newest claim's. A batch can hold two answers for one post:
    the first claim's lease ran out while its answer waited to be written (a writer behind, a
    worker paused), and a second claim fetched the post again. Only the newest claim can hold
    the lease, and the post's reads (held, the snapshot id reserved) are one per post: the
    older answer decided or stored beside it would land twice."""
    newest: dict[uuid.UUID, tuple[DuePost, R]] = {}
    for item in items:
        kept = newest.get(item[0].id)
        if kept is None or item[0].lease > kept[0].lease:
            newest[item[0].id] = item
    return list(newest.values())


def spike_checked(fetched: Sequence[tuple[DuePost, A]], t: integrity.Thresholds) -> list[uuid.UUID]:
    """The posts whose spike base the write reads: enough views, and no spike flag yet."""
    return [
        p.id
        for p, s in fetched
        if s.views >= t.spike_min_views and integrity.FlagCode.VIEW_SPIKE not in p.flags
    ]


def accounts(fetched: Sequence[tuple[DuePost, A]]) -> set[Account]:
    """The accounts the answers name: whose they are is read before the authors are judged."""
    return {
        (p.organization_id, p.platform, s.platform_user_id)
        for p, s in fetched
        if s.platform_user_id is not None
    }


def decide(
    fetched: Sequence[tuple[DuePost, A]],
    failed: Sequence[Failed],
    skipped: Sequence[tuple[DuePost, str]],
    seen: Seen,
    now: datetime,
    policy: Policy,
) -> Batch[A]:
    """Decide a whole batch from its answers and what the write read (`seen`)."""
    # A count far below the last known one is applied only when a second answer says so too.
    applied = [(p, s) for p, s in fetched if not unconfirmed(p, s, policy)]
    drops = [(p, s) for p, s in fetched if unconfirmed(p, s, policy)]
    skips = [
        Skip(post, outcome, next_without_stats(post, now, policy, failed=False))
        for post, outcome in skipped
    ]
    # Scheduled as it stands; a decision below adjusts it (rejected: never again).
    next_at = [
        schedule.next_refresh(
            post.status,
            stats.published_at or post.published_at or post.created_at,
            now,
            policy.cadence,
            deadline=_deadline(post, stats.published_at, policy),
        )
        for post, stats in applied
    ]
    # What the stats written call for, for the posts whose write lands: flags, who posted
    # each video, the campaign's window; then the holds they all raise, in that order.
    landed = [(p, s) for p, s in applied if p.id in seen.held]
    flags = _new_flags(landed, seen, now, policy.integrity)
    verdicts = _authorship(landed, seen)
    holds = [
        *verdicts.holds,
        *_window_holds(landed),
        *(
            NewMark(
                post.id,
                post.organization_id,
                r.code.value,
                f"Flag {r.code}: {r.reason}",
                r.evidence,
            )
            for post, r in flags
            if r.code.value in post.hold_on_flags
        ),
    ]
    raised = Counter(h.post_id for h in new_marks(holds, seen.hold_codes))
    decisions = [
        transition(
            candidate(
                policy,
                post_id=post.id,
                views=stats.views,
                open_holds=post.open_holds + raised[post.id],
                cpm_tier_id=post.cpm_tier_id,
                cpm=post.cpm,
                cap=post.cap,
                tier_name=post.tier_name,
                campaign_min_views=post.min_views,
                campaign_finalize_days=post.finalize_after_days,
                # Aged from the publish time the answer just gave, if it gave one.
                aged_from=stats.published_at or post.published_at or post.created_at,
                decide_after=post.decide_after,
                added_at=post.created_at,
                observed_at=now,
                snapshot_id=seen.snapshot_ids[post.id],
            ),
            now,
            policy.late_tolerance,
        )
        for post, stats in landed
        if post.status is PostStatus.TRACKING and _deadline(post, stats.published_at, policy) <= now
    ]
    return Batch(
        applied,
        next_at,
        drops,
        now + policy.integrity.recheck_after,
        [failure(f, now, policy) for f in failed],
        skips,
        flags,
        verdicts.renames,
        verdicts.binds,
        holds,
        decisions,
    )


def new_marks(marks: Sequence[NewMark], existing: dict[uuid.UUID, set[str]]) -> list[NewMark]:
    """The marks a post has no mark of that code for yet (open or closed): each code once
    per post, the last one given for it."""
    unique = {(m.post_id, m.code): m for m in marks}.values()
    return [m for m in unique if m.code not in existing.get(m.post_id, ())]


def _new_flags(
    landed: Sequence[tuple[DuePost, A]], seen: Seen, now: datetime, t: integrity.Thresholds
) -> list[tuple[DuePost, Raised]]:
    """The flags these applied fetches call for that their posts do not have yet."""
    return [
        (post, raised)
        for post, stats in landed
        for raised in integrity.called_for(
            post.status,
            Observed(seen.snapshot_ids.get(post.id), stats.views, now),
            post.locked_views,
            seen.spike_bases.get(post.id),
            stats.likes,
            stats.comments,
            t,
        )
        if raised.code not in post.flags and raised.code not in seen.flag_codes.get(post.id, ())
    ]


def _window_holds(landed: Sequence[tuple[DuePost, A]]) -> list[NewMark]:
    """A video published outside its campaign's dates is held."""
    holds = []
    for post, stats in landed:
        published = stats.published_at or post.published_at
        if published and outside_campaign_window(published, post.starts_on, post.ends_on):
            runs = f"{post.starts_on or 'the start'} to {post.ends_on or 'open end'}"
            holds.append(
                NewMark(
                    post_id=post.id,
                    organization_id=post.organization_id,
                    code=HoldCode.OUTSIDE_CAMPAIGN_WINDOW,
                    reason=f"Published {published.date()}; the campaign runs {runs}.",
                    evidence={
                        "published_at": published.isoformat(),
                        "starts_on": post.starts_on and post.starts_on.isoformat(),
                        "ends_on": post.ends_on and post.ends_on.isoformat(),
                    },
                )
            )
    return holds


@dataclass(frozen=True)
class Verdicts:
    holds: list[NewMark]
    renames: list[Rename]
    binds: list[Bind]


def _found(answer: Answer) -> Author:
    return Author(answer.handle, answer.platform_user_id)


def _mismatch(post: DuePost, answer: Answer, creator: Author, reason: str | None = None) -> NewMark:
    return NewMark(
        post_id=post.id,
        organization_id=post.organization_id,
        code=HoldCode.AUTHOR_MISMATCH,
        reason=reason or mismatch_reason(creator, _found(answer)),
        evidence={
            "expected": {"handle": creator.handle, "platform_user_id": creator.user_id},
            "found": {"handle": answer.handle, "platform_user_id": answer.platform_user_id},
        },
    )


def _authorship(landed: Sequence[tuple[DuePost, A]], seen: Seen) -> Verdicts:
    """Who posted each video (app/domain/authorship.py judges one): the creator's own video
    syncs a renamed handle or binds the user id seen for the first time; anyone else's holds
    the post.

    Each author is checked against the creator as the write read it (locked: an earlier
    write of the same claim, or another worker, may have bound it since the claim). A creator
    not yet bound is bound once, by the first of its videos the platform says it posted under
    its handle, unless another creator of the organization has that account; then every
    video of the batch that waited for the bind is decided by the user id the creator has."""
    holds: list[NewMark] = []
    renames: dict[uuid.UUID, tuple[DuePost, A, str | None]] = {}
    binds: dict[uuid.UUID, tuple[DuePost, A]] = {}
    disputed: dict[uuid.UUID, set[str]] = {}
    clashes: set[uuid.UUID] = set()
    waiting: list[tuple[DuePost, A]] = []  # decided once the binds are known
    for post, stats in landed:
        creator = seen.authors.get(post.creator_id)
        if creator is None:  # deleted since the claim: nothing to check against
            continue
        verdict = verify_author(creator, _found(stats))
        if creator.user_id is None and stats.platform_user_id is not None:
            waiting.append((post, stats))
            if verdict is Authorship.BIND:
                first = binds.setdefault(post.creator_id, (post, stats))
                disputed.setdefault(post.creator_id, set()).add(stats.platform_user_id)
                if first[1].platform_user_id != stats.platform_user_id:
                    clashes.add(post.creator_id)  # one handle, two accounts: a person decides
        elif verdict is Authorship.MISMATCH:
            holds.append(_mismatch(post, stats, creator))
        elif verdict is Authorship.RENAMED:
            seen_first = renames.setdefault(post.creator_id, (post, stats, creator.handle))
            if seen_first[1].handle != stats.handle:
                clashes.add(post.creator_id)  # two answers disagree: a person sorts it out
    for creator_id in clashes:
        renames.pop(creator_id, None)
        binds.pop(creator_id, None)
    # A bind lands unless another creator of the organization has the account (the writer's
    # guard, creators.bind_many); the creator then has it for the videos that waited.
    holders = {account: dict(who) for account, who in seen.holders.items()}
    stored = dict(seen.authors)
    for creator_id, (post, stats) in binds.items():
        account = (post.organization_id, post.platform, stats.platform_user_id or "")
        others = set(holders.get(account, {})) - {creator_id}
        handle = stored[creator_id].handle
        if others or (handle or "").lower() != (stats.handle or "").lower():
            continue
        stored[creator_id] = Author(handle, stats.platform_user_id)
        holders.setdefault(account, {})[creator_id] = handle
    for post, stats in waiting:
        creator = stored[post.creator_id]
        if post.creator_id in clashes:
            reason = disputed_reason(creator, list(disputed[post.creator_id]))
            holds.append(_mismatch(post, stats, creator, reason))
            continue
        verdict = verify_author(creator, _found(stats))
        if verdict is Authorship.MISMATCH:
            holds.append(_mismatch(post, stats, creator))
        elif verdict is Authorship.BIND:  # still unbound: the account is another creator's
            assert stats.platform_user_id is not None
            account = (post.organization_id, post.platform, stats.platform_user_id)
            owner = next(
                (h for cid, h in holders.get(account, {}).items() if cid != post.creator_id),
                None,
            )
            why = mismatch_reason(creator, _found(stats), owner=owner) if owner else None
            holds.append(_mismatch(post, stats, creator, why))
    return Verdicts(
        holds,
        [
            Rename(post.creator_id, stats.platform_user_id, old, stats.handle, post.id)
            for post, stats, old in renames.values()
        ],
        [
            Bind(post.creator_id, stats.platform_user_id, stats.handle)
            for post, stats in binds.values()
        ],
    )
