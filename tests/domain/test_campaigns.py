"""A campaign's status rule (app/domain/campaigns.py) at the edge of its last UTC day (its SQL
twin is checked in test_rule_parity.py)."""

from datetime import UTC, date, datetime, timedelta, timezone

from app.domain import campaigns as campaign_rules
from app.domain.enums import CampaignStatus


def test_a_campaign_runs_through_the_whole_of_its_last_utc_day() -> None:
    last = date(2026, 12, 6)
    active = CampaignStatus.ACTIVE
    end_of_day = datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=UTC)
    assert campaign_rules.status_at(active, last, end_of_day) is active
    next_day = datetime(2026, 12, 7, tzinfo=UTC)
    assert campaign_rules.status_at(active, last, next_day) is CampaignStatus.ENDED
    # 00:30 on the 7th in Berlin is still the 6th in UTC.
    berlin = datetime(2026, 12, 7, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert campaign_rules.status_at(active, last, berlin) is active
    assert campaign_rules.status_at(active, None, next_day) is active
    assert campaign_rules.status_at(CampaignStatus.PAUSED, last, end_of_day) is (
        CampaignStatus.PAUSED
    )
