"""A deadline decision as pure functions: its inputs (`candidate`, built one way for the
result writer, the deadline sweep and the clearing of a held post's last hold), the deadline
they give, and the change it makes (`transition`: the rule `lifecycle.decide`, its event's
words and its evidence), which the one transition writer applies
(app/repositories/transitions.py, through services/decisions.py)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain import evidence
from app.domain.enums import PostStatus
from app.domain.lifecycle import Decision, Rules, Tier, deadline, decide
from app.domain.policy import Policy
from app.domain.transitions import Transition


@dataclass(frozen=True)
class Candidate:
    post_id: uuid.UUID
    views: int
    cpm_tier_id: uuid.UUID | None
    tier: Tier | None
    rules: Rules
    open_holds: int = 0  # as read with the views: the decision lands only if still so
    never_answered: str | None = None  # the last error, when no fetch ever gave stats
    note: str | None = None  # appended to the event's reason (e.g. the stats were stale)
    from_status: PostStatus = PostStatus.TRACKING  # HELD when its last hold was just cleared
    # The observation the views come from, and what its timing is judged against.
    observed_at: datetime | None = None
    snapshot_id: int | None = None
    deadline: datetime | None = None
    added_at: datetime | None = None  # when the post was added

    def timing(self, tolerance: timedelta) -> evidence.Timing | None:
        if self.observed_at is None or self.deadline is None:
            return None
        return evidence.timing(self.observed_at, self.deadline, self.added_at, tolerance)


def tier(cpm: Decimal | None, cap: Decimal | None, name: str | None = None) -> Tier | None:
    return None if cpm is None else Tier(cpm, cap, name)


def deadline_of(
    policy: Policy,
    *,
    campaign_min_views: int | None,
    campaign_finalize_days: int | None,
    aged_from: datetime,
    decide_after: datetime | None,
) -> datetime:
    """When a post is decided: its age anchor plus the campaign's own finalize-after days,
    never before a restore's wait. The decision's inputs (`candidate`) and the write path's
    schedule and due check all read it here."""
    rules = policy.rules(campaign_min_views, campaign_finalize_days)
    return deadline(aged_from, rules, decide_after)


def candidate(
    policy: Policy,
    *,
    post_id: uuid.UUID,
    views: int,
    open_holds: int,
    cpm_tier_id: uuid.UUID | None,
    cpm: Decimal | None,
    cap: Decimal | None,
    tier_name: str | None,
    campaign_min_views: int | None,
    campaign_finalize_days: int | None,
    aged_from: datetime,
    decide_after: datetime | None,
    added_at: datetime,
    observed_at: datetime | None,
    snapshot_id: int | None,
    from_status: PostStatus = PostStatus.TRACKING,
    note: str | None = None,
    never_answered: str | None = None,
) -> Candidate:
    """A deadline decision's inputs, built one way for every caller (the result writer, the
    deadline sweep, the clearing of a held post's last hold): the campaign's own rules (its
    overrides, else the defaults) and the deadline they give, from the post's age anchor and
    its restore time. Every input is named, none defaulted, so no caller can leave out the
    campaign's minimum or the restore."""
    rules = policy.rules(campaign_min_views, campaign_finalize_days)
    return Candidate(
        post_id=post_id,
        views=views,
        cpm_tier_id=cpm_tier_id,
        tier=tier(cpm, cap, tier_name),
        rules=rules,
        open_holds=open_holds,
        never_answered=never_answered,
        note=note,
        from_status=from_status,
        observed_at=observed_at,
        snapshot_id=snapshot_id,
        deadline=deadline_of(
            policy,
            campaign_min_views=campaign_min_views,
            campaign_finalize_days=campaign_finalize_days,
            aged_from=aged_from,
            decide_after=decide_after,
        ),
        added_at=added_at,
    )


def _event(
    decision: Decision, candidate: Candidate, timed: evidence.Timing | None
) -> tuple[str, str]:
    # A late observation says so where the count is named: "11,932 views locked, observed
    # 13 days after the deadline: the post was added then".
    if timed is not None and timed.late and candidate.from_status is PostStatus.TRACKING:
        locked = f"{candidate.views:,} views locked, {timed.note}"
    else:
        locked = f"{candidate.views:,} views locked at the deadline"
    if decision.status is PostStatus.REJECTED:
        code, reason = "auto_rejected", decision.rejection_reason or ""
    elif decision.status is PostStatus.HELD:
        code = "held"
        reason = (
            f"{locked}; {candidate.open_holds} open hold(s) must be cleared before it is decided."
        )
    elif decision.status is PostStatus.PENDING_CPM:
        code = "awaiting_cpm"
        reason = f"{locked}; assign a CPM tier to finalize."
    else:
        code = "auto_finalized"
        reason = f"{locked}; earnings {decision.earnings}."
    return code, f"{reason} {candidate.note}" if candidate.note else reason


def _values(decision: Decision, candidate: Candidate, now: datetime) -> dict[str, Any]:
    if decision.status is PostStatus.REJECTED:
        # A rejected post is never fetched again, so no refresh run may wait for it.
        return {
            "rejection_code": decision.rejection_code,
            "rejection_reason": decision.rejection_reason,
            "next_refresh_at": None,
            "refresh_run_id": None,
        }
    locked = {
        "locked_views": decision.locked_views,
        "locked_observed_at": candidate.observed_at,
        "locked_snapshot_id": candidate.snapshot_id,
    }
    if decision.status in (PostStatus.PENDING_CPM, PostStatus.HELD):
        return locked
    return {**locked, "earnings": decision.earnings, "finalized_at": now}


def transition(candidate: Candidate, now: datetime, tolerance: timedelta) -> Transition:
    decision = decide(
        candidate.views,
        candidate.tier,
        candidate.rules,
        held=candidate.open_holds > 0,
        never_answered=candidate.never_answered,
    )
    timed = candidate.timing(tolerance)
    code, reason = _event(decision, candidate, timed)
    observation = evidence.Observation(
        candidate.views, candidate.observed_at, candidate.snapshot_id
    )
    if candidate.never_answered is not None:
        observation = evidence.Observation(0)  # no answer: its 0 views are nothing observed
    return Transition(
        post_id=candidate.post_id,
        from_status=candidate.from_status,
        to_status=decision.status,
        code=code,
        reason=reason,
        values=_values(decision, candidate, now),
        expect={"cpm_tier_id": candidate.cpm_tier_id, "open_holds": candidate.open_holds},
        evidence=evidence.of_decision(
            decision,
            observation,
            candidate.rules,
            candidate.deadline,
            candidate.tier,
            candidate.cpm_tier_id,
            timed,
        ),
    )
