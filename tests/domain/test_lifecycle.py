"""The lifecycle rules as pure functions, at their boundaries."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain import lifecycle
from app.domain.enums import PostStatus
from app.domain.lifecycle import Rules, Tier, TransitionError, deadline, decide, earnings
from app.domain.transitions import GUARDS

RULES = Rules(min_views=1000, finalize_after=timedelta(days=7))
TIER = Tier(cpm=Decimal("4.5000"), cap=None)


def test_999_views_is_rejected_with_a_reason_that_states_the_count() -> None:
    decision = decide(999, TIER, RULES)
    assert decision.status is PostStatus.REJECTED
    assert decision.rejection_code == "below_min_views"
    assert "999 views" in (decision.rejection_reason or "")
    assert decision.earnings is None


def test_exactly_1000_views_with_a_tier_is_finalized_and_locked() -> None:
    decision = decide(1000, TIER, RULES)
    assert decision.status is PostStatus.FINALIZED
    assert decision.locked_views == 1000
    assert decision.earnings == Decimal("4.50")


def test_1000_views_without_a_tier_is_pending_cpm_with_views_locked() -> None:
    decision = decide(1000, None, RULES)
    assert decision.status is PostStatus.PENDING_CPM
    assert decision.locked_views == 1000
    assert decision.earnings is None


def test_a_campaign_override_of_min_views_applies() -> None:
    rules = lifecycle.rules_for(1000, 7, 50, None)
    assert decide(50, TIER, rules).status is PostStatus.FINALIZED
    assert decide(49, TIER, rules).status is PostStatus.REJECTED
    assert lifecycle.rules_for(1000, 7, None, 0).finalize_after == timedelta(0)


@pytest.mark.parametrize(
    ("views", "cpm", "cap", "expected"),
    [
        (1234, "4.5", None, "5.55"),  # 5.553 rounds down
        (1000, "0.005", None, "0.01"),  # exactly half a cent rounds up, not to even
        (3000, "0.0025", None, "0.01"),  # 0.0075 -> 0.01
        (1_000_000, "4.5", "250.00", "250.00"),  # the cap binds
        (10_000, "4.5", "250.00", "45.00"),  # the cap does not bind
        (55_554, "4.5", "250.00", "249.99"),  # 249.993: just under the cap
        (55_555, "4.5", "250.00", "250.00"),  # 249.9975 rounds up to the cap
        (2_500_000, "12.3456", None, "30864.00"),
    ],
)
def test_earnings_are_min_of_views_times_cpm_and_cap_rounded_half_up(
    views: int, cpm: str, cap: str | None, expected: str
) -> None:
    tier = Tier(Decimal(cpm), None if cap is None else Decimal(cap))
    assert earnings(views, tier) == Decimal(expected)


def test_the_deadline_is_exactly_seven_days_after_publishing() -> None:
    published = datetime(2026, 1, 1, tzinfo=UTC)
    assert deadline(published, RULES) == published + timedelta(days=7)
    # A restore moves the deadline to the restore, never earlier than the age limit.
    later = published + timedelta(days=9)
    assert deadline(published, RULES, later) == later
    assert deadline(published, RULES, published + timedelta(days=1)) == published + timedelta(
        days=7
    )


@pytest.mark.parametrize(
    ("check", "status", "code"),
    [
        (lifecycle.check_mark_paid, PostStatus.TRACKING, "post_not_finalized"),
        (lifecycle.check_mark_paid, PostStatus.PAID, "post_not_finalized"),
        (lifecycle.check_reject, PostStatus.PAID, "post_paid"),
        (lifecycle.check_reject, PostStatus.REJECTED, "post_already_rejected"),
        (lifecycle.check_restore, PostStatus.FINALIZED, "post_not_rejected"),
        (lifecycle.check_tier_assignment, PostStatus.FINALIZED, "post_locked"),
        (lifecycle.check_tier_assignment, PostStatus.PAID, "post_locked"),
        (lifecycle.check_tier_assignment, PostStatus.REJECTED, "post_rejected"),
    ],
)
def test_impossible_transitions_name_the_rule(check, status: PostStatus, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransitionError) as raised:
        check(status)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("check", "status"),
    [
        (lifecycle.check_mark_paid, PostStatus.FINALIZED),
        (lifecycle.check_reject, PostStatus.TRACKING),
        (lifecycle.check_reject, PostStatus.PENDING_CPM),
        (lifecycle.check_reject, PostStatus.FINALIZED),
        (lifecycle.check_restore, PostStatus.REJECTED),
        (lifecycle.check_tier_assignment, PostStatus.TRACKING),
        (lifecycle.check_tier_assignment, PostStatus.PENDING_CPM),
        # Held at its deadline: a tier may be set before a person clears the hold.
        (lifecycle.check_tier_assignment, PostStatus.HELD),
        (lifecycle.check_reject, PostStatus.HELD),
    ],
)
def test_allowed_transitions_pass(check, status: PostStatus) -> None:  # type: ignore[no-untyped-def]
    check(status)


def test_the_statuses_an_action_takes_are_the_transition_table_s() -> None:
    """A reject or a restore lands only through the table's guarded changes: the statuses
    the dashboard offers them for are exactly those the table changes from."""
    rejects = {f for f, t in GUARDS if t is PostStatus.REJECTED}
    restores = {f for f, t in GUARDS if f is PostStatus.REJECTED}
    assert rejects == lifecycle.REJECTABLE
    assert restores == lifecycle.RESTORABLE
