"""What a decision was made on, as plain data a person can re-derive its number from: the
observation (views, when the platform answered, which snapshot), the rules in force (minimum
views, finalize-after days, the deadline instant), the tier's terms as they were at that
moment, and the arithmetic in words. Pure; stored with the decision's event, so editing or
deleting the tier afterwards changes nothing here."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.enums import PostStatus
from app.domain.lifecycle import Decision, Rules, Tier, earned, meets_min_views


@dataclass(frozen=True)
class Observation:
    """The stats a decision used: the count, when the platform answered with it, and the
    snapshot of that answer (None when no fetch ever answered)."""

    views: int
    observed_at: datetime | None = None
    snapshot_id: int | None = None


# Why a deadline decision's stats were not on time: observed too long after the deadline
# (the post was added after it, or no fetch succeeded until then), or before it (stale).
ADDED_LATE, FETCH_DELAYED, STALE = "added_late", "fetch_delayed", "stale"
LATE_CAUSES = (ADDED_LATE, FETCH_DELAYED)
TIMING_CAUSES = (*LATE_CAUSES, STALE)


@dataclass(frozen=True)
class Timing:
    offset: timedelta  # observed_at - deadline: positive when observed after it
    # None: on time; "added_late" or "fetch_delayed": observed too long after the deadline;
    # "stale": observed before it (no fetch succeeded since, the sweep decided on these).
    cause: str | None
    note: str | None  # in words, when the timing needs saying

    @property
    def late(self) -> bool:
        return self.cause in LATE_CAUSES


def duration(delta: timedelta) -> str:
    """A span in the largest whole unit: "13 days", "5 hours", "42 minutes"."""
    seconds = abs(delta.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{int(seconds)} seconds"


def timing(
    observed_at: datetime, deadline: datetime, added_at: datetime | None, tolerance: timedelta
) -> Timing:
    """Whether stats were observed on time for a deadline decision. Observed more than
    `tolerance` after the deadline is late: either the post was added after its deadline, or
    no fetch succeeded until then (a provider outage). Observed before the deadline means
    the platform did not answer since (the deadline sweep decided on the last stats)."""
    offset = observed_at - deadline
    if offset > tolerance:
        if added_at is not None and added_at > deadline:
            cause, why = ADDED_LATE, "the post was added then"
        else:
            cause, why = FETCH_DELAYED, "no fetch succeeded before then"
        return Timing(offset, cause, f"observed {duration(offset)} after the deadline: {why}")
    if offset < timedelta(0):
        return Timing(offset, STALE, f"observed {duration(offset)} before the deadline")
    return Timing(offset, None, None)


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def arithmetic(views: int, tier: Tier) -> str:
    """`earnings()` in words, as a person checks it: "10,739 (times) 5.0000 / 1000 = 53.695
    → half-up 53.70; cap 250.00 not reached", with the multiplication sign."""
    steps = earned(views, tier)
    exact = steps.exact.normalize()
    if exact == exact.to_integral():
        exact = exact.quantize(Decimal(1))
    text = f"{views:,} × {tier.cpm} / 1000 = {exact:,f} → half-up {_money(steps.rounded)}"  # noqa: RUF001
    if tier.cap is None:
        return f"{text}; no cap"
    if steps.capped:
        return f"{text}; capped at {_money(tier.cap)}"
    return f"{text}; cap {_money(tier.cap)} not reached"


def terms(tier: Tier | None, tier_id: Any) -> dict[str, Any] | None:
    """The tier as it was at the decision, copied: later edits never reach the evidence."""
    if tier is None:
        return None
    return {
        "id": str(tier_id) if tier_id else None,
        "name": tier.name,
        "cpm": str(tier.cpm),
        "cap": None if tier.cap is None else str(tier.cap),
    }


def with_tier(
    locked: Mapping[str, Any] | None, views: int, tier: Tier, tier_id: Any, amount: Decimal
) -> dict[str, Any]:
    """A pending post finalized by assigning a tier: the evidence of the decision that locked
    its views (observation, rules, timing), with the tier's terms and the arithmetic now."""
    return {
        **(locked or {"views": views}),
        "tier": terms(tier, tier_id),
        "arithmetic": arithmetic(views, tier),
        "earnings": str(amount),
    }


def of_decision(
    decision: Decision,
    observation: Observation,
    rules: Rules,
    deadline: datetime | None,
    tier: Tier | None,
    tier_id: Any,
    timed: Timing | None,
) -> dict[str, Any]:
    """The evidence stored with a decision's event (JSON-ready)."""
    views = observation.views
    found: dict[str, Any] = {
        "views": views,
        "observed_at": observation.observed_at.isoformat() if observation.observed_at else None,
        "snapshot_id": observation.snapshot_id,
        "rules": {
            "min_views": rules.min_views,
            "finalize_after_days": rules.finalize_after.days,
            "deadline": deadline.isoformat() if deadline else None,
        },
        "tier": terms(tier, tier_id),
        "min_views_check": (
            f"{views:,} {'≥' if meets_min_views(views, rules.min_views) else '<'} "
            f"{rules.min_views:,} minimum views"
        ),
        "arithmetic": None,
        "earnings": None,
    }
    if timed is not None:
        found["timing"] = {
            "offset_seconds": int(timed.offset.total_seconds()),
            "late": timed.late,
            "cause": timed.cause,
            "note": timed.note,
        }
    if decision.status is PostStatus.FINALIZED and tier is not None:
        found["arithmetic"] = arithmetic(views, tier)
        found["earnings"] = str(decision.earnings)
    return found
