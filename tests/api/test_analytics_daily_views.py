"""The campaign's daily views: the rollups the writer keeps (per campaign, and per campaign and
creator), the migrations that build them from older snapshots, and the series the analytics
make of them, narrowed by the creator and platform filters."""

import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.domain.enums import Platform, StatsSource
from app.models import CampaignDailyViews, CreatorDailyViews
from app.platforms.contract import VideoStats
from app.repositories import analytics
from app.repositories.analytics import Scope
from app.services.analytics import daily_series
from app.services.refresh_results import write as write_results
from app.settings import PROJECT_ROOT, Settings
from app.workers.refresher import Refresher
from tests.api.conftest import ClientFor
from tests.engine_kit import Clock, claim_due, refresh_days, seed

SM = async_sessionmaker[AsyncSession]


def test_the_series_covers_every_day_and_starts_from_the_total_before_it() -> None:
    # (day, gained, of which views the posts had at their first fetch)
    gains = [
        (date(2026, 11, 1), 500, 500),
        (date(2026, 11, 20), 40, 30),
        (date(2026, 11, 22), 7, 0),
    ]
    series = daily_series(gains, date(2026, 11, 20), date(2026, 11, 23))
    assert [(d.day.day, d.baseline_views, d.views_gained, d.total_views) for d in series] == [
        (20, 30, 10, 540),
        (21, 0, 0, 540),
        (22, 0, 7, 547),
        (23, 0, 0, 547),
    ]


async def _rollup(committed: SM) -> list[tuple[uuid.UUID, date, int]]:
    async with committed() as session:
        rows = await session.execute(
            select(
                CampaignDailyViews.campaign_id,
                CampaignDailyViews.day,
                CampaignDailyViews.views_gained,
            ).order_by(CampaignDailyViews.campaign_id, CampaignDailyViews.day)
        )
        return [(r.campaign_id, r.day, r.views_gained) for r in rows]


async def test_the_migration_backfill_rebuilds_what_the_writer_keeps(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    await seed(committed, [(Platform.TIKTOK, str(9100 + i)) for i in range(4)], clock.now)
    await seed(committed, [(Platform.INSTAGRAM, f"Cx{i:09d}") for i in range(1, 3)], clock.now)
    await refresh_days(committed, make_refresher, clock, 3)  # three fetches, a day apart
    kept = await _rollup(committed)
    assert len(kept) == 6  # two campaigns, three days
    first_day = min(day for _, day, _ in kept)
    assert any(gained > 0 for _, day, gained in kept if day > first_day)  # not just first counts

    await _backfill(committed, "campaign_daily_views", "0004")
    assert await _rollup(committed) == kept


async def _backfill(committed: SM, table: str, revision: str) -> None:
    """The rollup `table` emptied and rebuilt by the BACKFILL of the migration `revision`."""
    script = ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini")))
    migration = script.get_revision(revision)
    assert migration is not None
    async with committed() as session:
        await session.execute(text(f"DELETE FROM {table}"))
        await session.execute(text(migration.module.BACKFILL))
        await session.commit()


async def _creator_rollup(
    committed: SM,
) -> list[tuple[uuid.UUID, uuid.UUID, date, Platform, Decimal, Decimal]]:
    async with committed() as session:
        rows = await session.execute(
            select(CreatorDailyViews).order_by(
                CreatorDailyViews.campaign_id, CreatorDailyViews.creator_id, CreatorDailyViews.day
            )
        )
        return [
            (r.campaign_id, r.creator_id, r.day, r.platform, r.views_gained, r.baseline_views)
            for r in rows.scalars()
        ]


async def test_the_creator_rollup_adds_up_to_the_campaigns_and_the_backfill_rebuilds_it(
    committed: SM, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    await seed(committed, [(Platform.TIKTOK, str(9200 + i)) for i in range(4)], clock.now)
    await seed(committed, [(Platform.INSTAGRAM, f"Cy{i:09d}") for i in range(1, 3)], clock.now)
    await refresh_days(committed, make_refresher, clock, 3)
    kept = await _creator_rollup(committed)
    assert len({creator for _, creator, *_ in kept}) >= 3
    assert {platform for *_, platform, _, _ in kept} == {"tiktok", "instagram"}
    # A campaign's day is the sum of its creators' days.
    by_campaign: dict[tuple[uuid.UUID, date], Decimal] = {}
    for campaign, _, day, _, gained, _ in kept:
        by_campaign[(campaign, day)] = by_campaign.get((campaign, day), Decimal(0)) + gained
    assert sorted((c, d, int(g)) for (c, d), g in by_campaign.items()) == await _rollup(committed)

    await _backfill(committed, "creator_daily_views", "0023")
    assert await _creator_rollup(committed) == kept


async def test_the_creator_and_platform_filters_narrow_the_daily_series(
    committed: SM, api: ClientFor, make_refresher: Callable[[], Refresher], clock: Clock
) -> None:
    clock.advance(days=-3)  # three days of fetches, the last one yesterday
    tiktok = [(Platform.TIKTOK, str(9300 + i)) for i in range(4)]
    instagram = [(Platform.INSTAGRAM, f"Cz{i:09d}") for i in range(1, 3)]
    seeded = await seed(committed, [*tiktok, *instagram], clock.now)
    await refresh_days(committed, make_refresher, clock, 3)

    async def daily(
        client: httpx.AsyncClient, **params: str
    ) -> tuple[list[tuple[str, int, int]], int]:
        report = (
            await client.get(
                f"/v1/campaigns/{seeded.campaign_id}/analytics", params={"days": "5", **params}
            )
        ).json()
        series = [(d["day"], d["views_gained"], d["total_views"]) for d in report["daily_views"]]
        return series, report["totals"]["views"]

    async with await api(seeded) as client:
        everything, views = await daily(client)
        # Unfiltered, for all time: the last day's total is every post's views.
        assert everything[-1][2] == views > 0
        by_platform = {p.value: await daily(client, platform=p.value) for p in Platform}
        org = (await client.get("/v1/analytics", params={"platform": "instagram"})).json()
        creators = (await client.get(f"/v1/campaigns/{seeded.campaign_id}/analytics")).json()
        by_creator = [await daily(client, creator_id=c["creator_id"]) for c in creators["creators"]]
    assert len(by_creator) >= 3
    for filtered in (list(by_platform.values()), by_creator):
        # Each filter's series ends at its own posts' views, and they add up to the whole.
        for series, filtered_views in filtered:
            assert series[-1][2] == filtered_views
        assert sum(1 for series, _ in filtered if series[-1][2]) >= 2
        for n, (day, gained, total) in enumerate(everything):
            assert sum(s[n][1] for s, _ in filtered) == gained
            assert sum(s[n][2] for s, _ in filtered) == total
            assert all(s[n][0] == day for s, _ in filtered)
    # The organization's report narrows its series the same way.
    assert org["daily_views"][-1]["total_views"] == by_platform["instagram"][1]


BIGINT_MAX = 2**63 - 1


async def test_two_bigint_sized_posts_on_one_day_add_up_without_overflow(
    committed: SM, make_refresher: Callable[[], Refresher], fast: Settings, clock: Clock
) -> None:
    """Issue 22 item 17: a platform may report up to a bigint's largest count for a video;
    two such posts of one campaign on one day used to overflow the day's bigint counter and
    fail the whole batch's write."""
    videos = [(Platform.TIKTOK, "7101"), (Platform.TIKTOK, "7102")]
    seeded = await seed(committed, videos, clock.now)
    policy = make_refresher().policy
    due = await claim_due(committed, policy, fast, clock, limit=10)
    assert len(due) == 2
    huge = [BIGINT_MAX, BIGINT_MAX - 1]
    results = [
        (post, VideoStats(views, 1, 1, 1, None, None, None, StatsSource.PRIMARY))
        for post, views in zip(due, huge, strict=True)
    ]
    async with committed() as session:
        await write_results(session, list(results), clock.now, policy)
        await session.commit()
    today = clock.now.date()
    assert await _rollup(committed) == [(seeded.campaign_id, today, sum(huge))]
    async with committed() as session:
        scope = Scope(seeded.organization_id, frozenset({seeded.campaign_id}))
        gains = await analytics.daily_gains(session, scope, today)
    assert gains == [(today, sum(huge), sum(huge))]  # both first counts: a baseline
    (entry,) = daily_series(gains, today, today)
    assert (entry.total_views, entry.views_gained) == (sum(huge), 0)


async def test_the_creator_rollup_takes_only_a_platform_posts_take(session: AsyncSession) -> None:
    """As posts and creators: a platform no post can have would count for no platform in
    the analytics' platform filter."""
    row = {"campaign": uuid.uuid4(), "creator": uuid.uuid4(), "day": date(2026, 12, 6)}
    with pytest.raises(IntegrityError, match="creator_daily_views_platform_check"):
        async with session.begin_nested():
            await session.execute(
                text(
                    "INSERT INTO creator_daily_views (campaign_id, creator_id, day, platform,"
                    " views_gained) VALUES (:campaign, :creator, :day, 'myspace', 1)"
                ),
                row,
            )
