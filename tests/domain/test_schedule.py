"""The refresh schedule's window (app/domain/schedule.py) at its edge."""

from datetime import timedelta

import pytest

from app.domain import schedule
from app.domain.enums import PostStatus
from app.domain.policy import Policy
from app.settings import Settings
from tests.domain.test_holds import MIDNIGHT, TICK


@pytest.mark.parametrize("status", [PostStatus.TRACKING, PostStatus.FINALIZED, PostStatus.PAID])
def test_a_post_is_refreshed_for_exactly_30_days_by_default(status: PostStatus) -> None:
    """With the default settings: a fetch due at 30 days after publishing, to the
    microsecond, is not made; one due an instant before it is."""
    policy = Policy.from_settings(Settings())
    assert policy.cadence.window == timedelta(days=30)
    interval = policy.cadence.active if status is PostStatus.TRACKING else policy.cadence.settled
    now = MIDNIGHT
    at_30_days = now + interval - timedelta(days=30)  # the next fetch would be at 30 days
    assert schedule.next_refresh(status, at_30_days, now, policy.cadence) is None
    due = schedule.next_refresh(status, at_30_days + TICK, now, policy.cadence)
    assert due == now + interval
    assert not schedule.in_window(now - timedelta(days=30), now, policy.cadence.window)
    assert schedule.in_window(now - timedelta(days=30) + TICK, now, policy.cadence.window)
