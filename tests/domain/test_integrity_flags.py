"""The integrity rules as pure functions, each at its threshold and just past it (the writer,
the API and the holds they lead to are in tests/api/test_evidence.py)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain import integrity
from app.domain.enums import PostStatus
from app.domain.integrity import FlagCode, Observed, Thresholds

T = Thresholds()
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def seen(views: int, hours_ago: float = 0) -> Observed:
    return Observed(1, views, NOW - timedelta(hours=hours_ago))


def test_a_suspicious_drop_is_more_than_25_percent_below_the_last_count() -> None:
    assert not integrity.suspicious_drop(7_500, 10_000, T)  # exactly 25%: applied
    assert integrity.suspicious_drop(7_499, 10_000, T)
    assert not integrity.suspicious_drop(0, 0, T)  # nothing known yet: nothing to drop from


def test_views_dropped_is_more_than_20_percent_below_the_locked_views() -> None:
    for status in (PostStatus.FINALIZED, PostStatus.PAID):
        assert integrity.views_dropped(status, seen(8_000), 10_000, T) is None
        raised = integrity.views_dropped(status, seen(7_999), 10_000, T)
        assert raised is not None
        assert raised.code is FlagCode.VIEWS_DROPPED
    # Only a decided post has locked views to fall below.
    assert integrity.views_dropped(PostStatus.TRACKING, seen(1), 10_000, T) is None
    assert integrity.views_dropped(PostStatus.PENDING_CPM, seen(1), 10_000, T) is None


def test_view_spike_needs_the_factor_the_window_and_the_minimum() -> None:
    assert integrity.view_spike(seen(10_000), seen(1_000, 24), T) is not None
    assert integrity.view_spike(seen(9_999), seen(999, 24), T) is None  # under the minimum
    assert integrity.view_spike(seen(10_009), seen(1_001, 1), T) is None  # 9.999x
    assert integrity.view_spike(seen(10_000), seen(1_000, 24.01), T) is None  # outside
    assert integrity.view_spike(seen(50_000), seen(0, 1), T) is None  # no base to grow from
    assert integrity.view_spike(seen(50_000), None, T) is None


def test_hidden_likes_say_nothing_about_engagement() -> None:
    """A YouTube channel that hides its likes: unknown likes are not 0 likes, so no flag
    however few comments the video has."""
    assert integrity.low_engagement(seen(1_000_000), None, 0, T) is None
    assert integrity.low_engagement(seen(1_000_000), 0, 0, T) is not None


def test_low_engagement_is_below_one_per_thousand_views_from_10000_views() -> None:
    assert integrity.low_engagement(seen(10_000), 5, 5, T) is None  # exactly 0.001
    raised = integrity.low_engagement(seen(10_000), 5, 4, T)
    assert raised is not None
    assert raised.code is FlagCode.LOW_ENGAGEMENT
    assert integrity.low_engagement(seen(9_999), 0, 0, T) is None  # under the minimum


def test_thresholds_are_settings() -> None:
    strict = Thresholds(low_engagement_ratio=Decimal("0.01"), spike_factor=Decimal(2))
    assert integrity.low_engagement(seen(10_000), 50, 49, strict) is not None
    assert integrity.view_spike(seen(20_000), seen(10_000, 1), strict) is not None
