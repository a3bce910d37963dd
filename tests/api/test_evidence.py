"""Issue 13: every payable number defensible. Fetches are written through the real result
writer (claimed like the engine claims them) with answers built here, so each number is
chosen; the evidence is read back through the API."""

import csv
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform, Role, StatsSource
from app.domain.policy import Policy
from app.models import Post, RawAnswer, StatsSnapshot
from app.platforms.contract import VideoStats
from app.platforms.sandbox import Magic, Sandbox, tiktok_id
from app.repositories import api_keys, claims, provenance
from app.services.refresh_results import write as write_results
from app.settings import Settings
from app.workers import deadline_sweep as lifecycle_sweep
from app.workers import worker
from app.workers.refresher import Refresher
from tests.conftest import committed_client
from tests.engine_kit import Clock, Seeded, seed

SM = async_sessionmaker[AsyncSession]
DAY = timedelta(days=1)


@dataclass
class World:
    seeded: Seeded
    api: httpx.AsyncClient
    committed: SM
    clock: Clock
    policy: Policy

    @property
    def post_id(self) -> uuid.UUID:
        return next(iter(self.seeded.posts.values()))

    async def fetch(
        self,
        views: int,
        *,
        published: datetime | None = None,
        likes: int = 500,
        comments: int = 50,
        post_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """One fetch of the post answering `views`, written as the engine writes it."""
        post_id = post_id or self.post_id
        async with self.committed() as session:
            await session.execute(
                update(Post).where(Post.id == post_id).values(next_refresh_at=self.clock.now)
            )
            await session.commit()
        async with self.committed() as session:
            claimed = await claims.claim(
                session,
                Platform.TIKTOK,
                now=self.clock.now,
                limit=10,
                lease=timedelta(minutes=5),
                policy=self.policy,
            )
            await session.commit()
        (post,) = [p for p in claimed if p.id == post_id]
        raw = json.dumps({"code": 0, "data": {"play_count": views, "digg_count": likes}}).encode()
        stats = VideoStats(
            views=views,
            likes=likes,
            comments=comments,
            shares=1,
            handle=None,
            platform_user_id=None,
            published_at=published,
            source=StatsSource.PRIMARY,
            views_field="play_count",
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            requested_at=self.clock.now - timedelta(seconds=1),
            answered_at=self.clock.now,
        )
        async with self.committed() as session:
            await write_results(session, [(post, stats)], self.clock.now, self.policy)
            await session.commit()
        return await self.post(post_id)

    async def post(self, post_id: uuid.UUID | None = None) -> dict[str, Any]:
        answer = await self.api.get(f"/v1/posts/{post_id or self.post_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def evidence(self, post_id: uuid.UUID | None = None) -> dict[str, Any]:
        answer = await self.api.get(f"/v1/posts/{post_id or self.post_id}/evidence")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


async def _world(
    committed: SM, settings: Settings, engine: AsyncEngine, clock: Clock, **terms: Any
) -> AsyncIterator[World]:
    seeded = await seed(committed, [(Platform.TIKTOK, "7000000000000000001")], clock.now, **terms)
    async with committed() as session:
        _, key = await api_keys.create(session, seeded.organization_id, Role.ADMIN)
        await session.commit()
    async with committed_client(settings, engine, key) as api:
        yield World(seeded, api, committed, clock, Policy.from_settings(settings))


@pytest.fixture
async def world(
    committed: SM, settings: Settings, engine: AsyncEngine, clock: Clock
) -> AsyncIterator[World]:
    async for w in _world(committed, settings, engine, clock, cpm="5.0000", cap="250.00"):
        yield w


@pytest.fixture
async def untiered(
    committed: SM, settings: Settings, engine: AsyncEngine, clock: Clock
) -> AsyncIterator[World]:
    async for w in _world(committed, settings, engine, clock, cpm=None):
        yield w


def _published_days_ago(clock: Clock, days: float) -> datetime:
    return clock.now - timedelta(days=days)


async def test_a_finalized_post_shows_its_answer_rules_terms_and_arithmetic(world: World) -> None:
    published = _published_days_ago(world.clock, 7) - timedelta(minutes=1)
    post = await world.fetch(10_739, published=published)
    assert post["status"] == "finalized"
    assert post["earnings"] == "53.70"
    assert post["locked_observed_at"] is not None

    ev = await world.evidence()
    decision = ev["decision"]
    assert decision["code"] == "auto_finalized"
    assert decision["reason"] == "10,739 views locked at the deadline; earnings 53.70."
    found = decision["evidence"]
    assert found["views"] == 10_739
    assert datetime.fromisoformat(found["observed_at"]) == world.clock.now
    assert found["rules"] == {
        "min_views": 1000,
        "finalize_after_days": 7,
        "deadline": (published + 7 * DAY).isoformat(),
    }
    assert found["tier"] == {
        "id": str(world.seeded.tier_id),
        "name": "Standard",
        "cpm": "5.0000",
        "cap": "250.00",
    }
    assert found["min_views_check"] == "10,739 ≥ 1,000 minimum views"
    assert found["arithmetic"] == (
        "10,739 × 5.0000 / 1000 = 53.695 → half-up 53.70; cap 250.00 not reached"  # noqa: RUF001
    )
    assert found["earnings"] == "53.70"
    assert found["timing"] == {"offset_seconds": 60, "late": False, "cause": None, "note": None}

    # The snapshot it used, with the provider's own answer, byte for byte.
    (snapshot,) = [s for s in ev["snapshots"] if s["id"] == found["snapshot_id"]]
    assert snapshot["views"] == 10_739
    assert snapshot["source"] == "primary"
    assert snapshot["views_field"] == "play_count"
    assert snapshot["applied"] is True
    assert snapshot["requested_at"] < snapshot["answered_at"]
    raw = await world.api.get(f"/v1/posts/{world.post_id}/snapshots/{snapshot['id']}/raw")
    assert raw.status_code == 200
    assert hashlib.sha256(raw.content).hexdigest() == snapshot["raw_sha256"]
    assert json.loads(raw.content)["data"]["play_count"] == 10_739
    assert snapshot["raw_answer"] == raw.text


async def test_a_capped_post_says_the_cap_was_applied(world: World) -> None:
    post = await world.fetch(60_001, published=_published_days_ago(world.clock, 8))
    assert post["earnings"] == "250.00"
    found = (await world.evidence())["decision"]["evidence"]
    assert found["arithmetic"] == (
        "60,001 × 5.0000 / 1000 = 300.005 → half-up 300.01; capped at 250.00"  # noqa: RUF001
    )


async def test_a_rejected_post_shows_the_minimum_it_missed(world: World) -> None:
    post = await world.fetch(999, published=_published_days_ago(world.clock, 8))
    assert post["status"] == "rejected"
    found = (await world.evidence())["decision"]["evidence"]
    assert found["min_views_check"] == "999 < 1,000 minimum views"
    assert found["arithmetic"] is None
    assert found["earnings"] is None
    assert found["tier"]["cpm"] == "5.0000"


async def test_pending_then_assigned_keeps_the_observation_and_adds_the_terms(
    untiered: World, committed: SM
) -> None:
    w = untiered
    published = _published_days_ago(w.clock, 7) - timedelta(hours=2)
    assert (await w.fetch(4_321, published=published))["status"] == "pending_cpm"
    pending = (await w.evidence())["decision"]
    assert pending["code"] == "awaiting_cpm"
    assert pending["evidence"]["tier"] is None
    assert pending["evidence"]["arithmetic"] is None

    tier = await w.api.post(
        f"/v1/campaigns/{w.seeded.campaign_id}/cpm-tiers",
        json={"name": "Late deal", "cpm": "3.3333", "cap": None},
    )
    assert tier.status_code == 201, tier.text
    w.clock.advance(days=2)
    assigned = await w.api.patch(f"/v1/posts/{w.post_id}", json={"cpm_tier_id": tier.json()["id"]})
    assert assigned.json()["status"] == "finalized"
    assert assigned.json()["earnings"] == "14.40"

    ev = await w.evidence()
    decision = ev["decision"]
    assert decision["code"] == "tier_assigned"
    assert decision["actor_key_id"] is not None  # who: the key that assigned it
    found = decision["evidence"]
    # The observation and rules are the deadline's, the terms the assignment's.
    assert found["snapshot_id"] == pending["evidence"]["snapshot_id"]
    assert found["observed_at"] == pending["evidence"]["observed_at"]
    assert found["rules"] == pending["evidence"]["rules"]
    assert found["tier"]["name"] == "Late deal"
    assert found["tier"]["cap"] is None
    assert found["arithmetic"] == (
        "4,321 × 3.3333 / 1000 = 14.4031893 → half-up 14.40; no cap"  # noqa: RUF001
    )
    assert [e["code"] for e in ev["events"]] == ["awaiting_cpm", "tier_assigned"]


async def test_a_post_added_after_its_deadline_says_so(world: World) -> None:
    late = (
        REGISTRY.get_sample_value("viewledger_late_decisions_total", {"cause": "added_late"}) or 0
    )
    # Published 20 days ago and added now: decided on its first fetch, 13 days late.
    post = await world.fetch(11_932, published=_published_days_ago(world.clock, 20))
    assert post["status"] == "finalized"
    decision = (await world.evidence())["decision"]
    assert decision["reason"] == (
        "11,932 views locked, observed 13 days after the deadline: the post was added then; "
        "earnings 59.66."
    )
    timing = decision["evidence"]["timing"]
    assert timing["late"] is True
    assert timing["cause"] == "added_late"
    assert timing["offset_seconds"] == 13 * 86_400
    assert (
        REGISTRY.get_sample_value("viewledger_late_decisions_total", {"cause": "added_late"})
        == late + 1
    )


async def test_a_decision_within_the_tolerance_is_on_time_and_past_it_is_late(
    world: World, committed: SM
) -> None:
    # Added long before its deadline, first fetched 61 minutes after it (an outage).
    tolerance = world.policy.late_tolerance
    published = world.clock.now - 7 * DAY - tolerance - timedelta(minutes=1)
    decision = None
    await world.fetch(5_000, published=published)
    decision = (await world.evidence())["decision"]
    assert decision["evidence"]["timing"]["cause"] == "added_late"  # added 1 s ago: late-added

    async with committed() as session:  # now as if it had been added two weeks ago
        await session.execute(
            text(
                "UPDATE posts SET created_at = created_at - interval '14 days', "
                "status = 'tracking', locked_views = NULL, earnings = NULL"
            )
        )
        await session.commit()
    await world.fetch(5_000, published=published)
    decision = (await world.evidence())["decision"]
    assert decision["evidence"]["timing"]["cause"] == "fetch_delayed"
    assert (
        "observed 1 hour after the deadline: no fetch succeeded before then" in (decision["reason"])
    )

    async with committed() as session:
        await session.execute(
            text("UPDATE posts SET status = 'tracking', locked_views = NULL, earnings = NULL")
        )
        await session.commit()
    await world.fetch(5_000, published=world.clock.now - 7 * DAY - tolerance)
    decision = (await world.evidence())["decision"]
    assert decision["evidence"]["timing"]["late"] is False
    assert decision["reason"].startswith("5,000 views locked at the deadline")


async def test_editing_or_deleting_the_tier_afterwards_leaves_the_evidence(world: World) -> None:
    await world.fetch(10_739, published=_published_days_ago(world.clock, 8))
    before = (await world.evidence())["decision"]
    tiers = f"/v1/campaigns/{world.seeded.campaign_id}/cpm-tiers/{world.seeded.tier_id}"
    edited = await world.api.patch(tiers, json={"name": "Renamed", "cpm": "9.0000", "cap": "1.00"})
    assert edited.status_code == 200, edited.text
    after = (await world.evidence())["decision"]
    assert after == before
    assert after["evidence"]["tier"]["cpm"] == "5.0000"
    assert (await world.post())["earnings"] == "53.70"
    # The payout export shows the terms the post was paid on, not today's.
    batch = await world.api.post("/v1/payouts", json={"post_ids": [str(world.post_id)]})
    assert batch.status_code == 201, batch.text
    export = await world.api.get(f"/v1/payouts/{batch.json()['id']}/export.csv")
    (line,) = csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))
    assert (line["cpm"], line["cap"], line["earnings"]) == ("5.0000", "250.00", "53.70")
    assert line["observed_at"] == before["evidence"]["observed_at"].replace("+00:00", "Z")


async def test_raw_answers_are_pruned_after_retention_but_kept_for_decisions(
    world: World, committed: SM
) -> None:
    published = _published_days_ago(world.clock, 6)
    await world.fetch(3_000, published=published)  # tracking: an ordinary snapshot
    world.clock.advance(days=1, minutes=1)
    await world.fetch(4_000, published=published)  # past the deadline: decided on this one
    async with committed() as session:
        stored = (await session.execute(select(RawAnswer.kept, RawAnswer.size))).all()
        assert sorted(k for k, _ in stored) == [False, True]
        # Stored compressed: never larger than the answer itself plus zlib's few bytes.
        assert all(size > 0 for _, size in stored)
        pruned = await provenance.prune(session, world.clock.now + timedelta(days=1))
        await session.commit()
    assert pruned == 1
    assert any(job.coroutine is worker.prune_raw_answers for job in worker.WorkerSettings.cron_jobs)
    ev = await world.evidence()
    used = ev["decision"]["evidence"]["snapshot_id"]
    kept = {s["id"]: s["raw_answer"] for s in ev["snapshots"]}
    assert kept[used] is not None
    assert json.loads(kept[used])["data"]["play_count"] == 4_000
    async with committed() as session:
        snapshots = (await session.scalars(select(StatsSnapshot.id))).all()
    (other,) = [s for s in snapshots if s != used]
    gone = await world.api.get(f"/v1/posts/{world.post_id}/snapshots/{other}/raw")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


async def test_a_dropping_fetch_is_not_applied_until_a_second_answer_confirms_it(
    world: World, committed: SM
) -> None:
    published = _published_days_ago(world.clock, 2)
    await world.fetch(10_000, published=published)
    world.clock.advance(hours=6)
    post = await world.fetch(7_499, published=published)  # 25.01% below: suspicious
    assert post["views"] == 10_000
    assert post["last_fetch_outcome"] == "unconfirmed_drop"
    async with committed() as session:
        row = await session.get(Post, world.post_id)
        assert row is not None
        assert row.unconfirmed_views == 7_499
        assert row.next_refresh_at == world.clock.now + world.policy.integrity.recheck_after
        applied = (
            await session.scalars(select(StatsSnapshot.applied).order_by(StatsSnapshot.id))
        ).all()
    assert applied == [True, False]  # stored for the record, not applied

    world.clock.advance(minutes=5)
    assert (await world.fetch(7_400, published=published))["views"] == 7_400  # confirmed


async def test_a_glitch_never_overwrites_the_good_count(world: World) -> None:
    published = _published_days_ago(world.clock, 2)
    await world.fetch(10_000, published=published)
    world.clock.advance(hours=6)
    assert (await world.fetch(0, published=published))["views"] == 10_000
    world.clock.advance(minutes=5)
    post = await world.fetch(10_200, published=published)
    assert post["views"] == 10_200
    assert post["last_fetch_outcome"] == "refreshed"


async def test_a_drop_of_exactly_the_threshold_is_applied_at_once(world: World) -> None:
    published = _published_days_ago(world.clock, 2)
    await world.fetch(10_000, published=published)
    world.clock.advance(hours=6)
    assert (await world.fetch(7_500, published=published))["views"] == 7_500


async def test_a_dropping_deadline_fetch_waits_for_confirmation_before_deciding(
    world: World,
) -> None:
    published = _published_days_ago(world.clock, 6)
    await world.fetch(10_000, published=published)
    world.clock.advance(days=1, minutes=1)
    post = await world.fetch(0, published=published)
    assert post["status"] == "tracking"  # a 0 from a struggling scraper decides nothing
    world.clock.advance(minutes=5)
    post = await world.fetch(10_100, published=published)
    assert post["status"] == "finalized"
    assert post["locked_views"] == 10_100


# Flags, each at its threshold and just past it (the pure rules are tested in
# tests/domain/test_integrity_flags.py; these go through the writer, the API and the analytics).


async def test_views_dropped_flags_a_finalized_post_and_shows_everywhere(
    world: World, committed: SM
) -> None:
    published = _published_days_ago(world.clock, 8)
    assert (await world.fetch(10_000, published=published))["status"] == "finalized"
    world.clock.advance(days=1)
    post = await world.fetch(8_000, published=published)  # exactly 20% below: no flag
    assert post["flags"] == []
    world.clock.advance(days=1)
    raised = REGISTRY.get_sample_value("viewledger_flags_raised_total", {"code": "views_dropped"})
    post = await world.fetch(7_999, published=published)
    assert post["flags"] == ["views_dropped"]
    assert (
        REGISTRY.get_sample_value("viewledger_flags_raised_total", {"code": "views_dropped"})
        == (raised or 0) + 1
    )
    assert post["status"] == "finalized"  # a flag does not stop payment by default

    (flag,) = (await world.api.get(f"/v1/posts/{world.post_id}/flags")).json()["data"]
    assert flag["code"] == "views_dropped"
    assert flag["evidence"]["locked_views"] == 10_000
    assert flag["evidence"]["snapshots"][0]["views"] == 7_999
    listed = await world.api.get("/v1/posts", params={"flag": "views_dropped"})
    assert [p["id"] for p in listed.json()["data"]] == [str(world.post_id)]
    assert (await world.api.get("/v1/posts", params={"flag": "view_spike"})).json()["data"] == []
    analytics = await world.api.get(f"/v1/campaigns/{world.seeded.campaign_id}/analytics")
    assert analytics.json()["flagged_posts"] == {
        "views_dropped": 1,
        "view_spike": 0,
        "low_engagement": 0,
    }

    resolved = await world.api.post(
        f"/v1/posts/{world.post_id}/flags/views_dropped/resolve",
        json={"note": "Platform purge confirmed; paid amount stands."},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["flags"] == []
    world.clock.advance(days=1)
    assert (await world.fetch(7_000, published=published))["flags"] == []  # not raised again
    codes = [e["code"] for e in (await world.evidence())["events"]]
    assert codes == ["auto_finalized", "flag_raised", "flag_resolved"]
    again = await world.api.post(
        f"/v1/posts/{world.post_id}/flags/views_dropped/resolve", json={"note": "again"}
    )
    assert again.status_code == 404


async def test_view_spike_at_its_factor_and_just_under(world: World, committed: SM) -> None:
    published = _published_days_ago(world.clock, 1)
    await world.fetch(1_001, published=published)
    world.clock.advance(hours=23)
    assert (await world.fetch(10_009, published=published))["flags"] == []  # 9.999x
    world.clock.advance(minutes=30)
    # From the smallest count in the last 24 h (1,001): 10,010 is exactly 10x.
    assert (await world.fetch(10_010, published=published))["flags"] == ["view_spike"]


async def test_low_engagement_at_its_ratio_and_just_under(world: World) -> None:
    published = _published_days_ago(world.clock, 1)
    post = await world.fetch(10_000, published=published, likes=8, comments=2)  # exactly 0.001
    assert post["flags"] == []
    world.clock.advance(hours=6)
    post = await world.fetch(10_001, published=published, likes=8, comments=2)
    assert post["flags"] == ["low_engagement"]


async def test_hold_on_flags_turns_a_spike_into_a_hold_until_resolved(world: World) -> None:
    campaign = await world.api.patch(
        f"/v1/campaigns/{world.seeded.campaign_id}", json={"hold_on_flags": ["view_spike"]}
    )
    assert campaign.status_code == 200, campaign.text
    assert campaign.json()["hold_on_flags"] == ["view_spike"]
    published = _published_days_ago(world.clock, 6)
    await world.fetch(2_000, published=published)
    world.clock.advance(hours=12)
    post = await world.fetch(40_000, published=published)
    assert post["flags"] == ["view_spike"]
    assert [h["code"] for h in post["holds"]] == ["view_spike"]
    world.clock.advance(hours=12, minutes=1)
    post = await world.fetch(41_000, published=published)  # its deadline fetch
    assert post["status"] == "held"
    assert post["locked_views"] == 41_000

    resolved = await world.api.post(
        f"/v1/posts/{world.post_id}/flags/view_spike/resolve",
        json={"note": "Organic: featured by the platform."},
    )
    assert resolved.status_code == 200, resolved.text
    post = resolved.json()
    assert post["status"] == "finalized"
    assert post["earnings"] == "205.00"
    assert post["holds"] == []
    assert post["flags"] == []
    decision = (await world.evidence())["decision"]
    assert decision["evidence"]["views"] == 41_000
    assert decision["evidence"]["arithmetic"].endswith("cap 250.00 not reached")


async def test_a_resolve_with_an_unknown_code_is_a_clear_problem(world: World) -> None:
    answer = await world.api.post(
        f"/v1/posts/{world.post_id}/flags/made_up/resolve", json={"note": "x"}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


async def test_the_sandbox_integrity_ids_raise_their_flags_through_the_real_engine(
    committed: SM,
    make_refresher: Callable[[], Refresher],
    clock: Clock,
    sandbox: Sandbox,
) -> None:
    """PURGED, SPIKE and BOTTED answer through the sandbox's HTTP providers as a platform
    would, so this covers parsing and provenance too."""
    clock.now = sandbox.anchor + timedelta(hours=23)  # before their change
    ids = {magic: tiktok_id(magic) for magic in (Magic.PURGED, Magic.SPIKE, Magic.BOTTED)}
    s = await seed(
        committed, [(Platform.TIKTOK, i) for i in ids.values()], clock.now, min_views=0,
        finalize_after_days=0,
    )  # fmt: skip

    async def refresh() -> dict[Magic, Post]:
        await make_refresher().refresh_due(Platform.TIKTOK)
        async with committed() as session:
            return {m: await session.get(Post, s.posts[i]) for m, i in ids.items()}  # type: ignore[misc]

    async def due_now() -> None:
        async with committed() as session:
            await session.execute(update(Post).values(next_refresh_at=clock.now))
            await session.commit()

    first = await refresh()
    assert first[Magic.PURGED].status == "finalized"
    assert first[Magic.SPIKE].views == 2_000
    assert first[Magic.BOTTED].flags == ["low_engagement"]
    locked = first[Magic.PURGED].locked_views
    assert locked is not None

    clock.now = sandbox.anchor + timedelta(days=1, minutes=1)  # purged, and spiked
    await due_now()
    second = await refresh()
    assert second[Magic.SPIKE].views == 60_000
    assert second[Magic.SPIKE].flags == ["view_spike"]
    assert second[Magic.PURGED].views == first[Magic.PURGED].views  # not applied yet
    assert second[Magic.PURGED].last_fetch_outcome == "unconfirmed_drop"

    clock.advance(minutes=5)  # its recheck
    third = await refresh()
    purged = sandbox.video(Platform.TIKTOK, ids[Magic.PURGED]).counts_at(clock.now).views
    assert third[Magic.PURGED].views == purged < locked * 0.8
    assert third[Magic.PURGED].flags == ["views_dropped"]
    assert third[Magic.PURGED].locked_views == locked  # what it was paid on stands

    async with committed() as session:
        snapshot = await session.scalar(
            select(StatsSnapshot)
            .where(StatsSnapshot.post_id == s.posts[ids[Magic.PURGED]])
            .order_by(StatsSnapshot.id.desc())
        )
        assert snapshot is not None
        assert snapshot.views_field == "play_count"
        assert snapshot.raw_sha256 is not None
        assert snapshot.requested_at is not None
        assert snapshot.answered_at is not None
        assert snapshot.requested_at <= snapshot.answered_at


async def test_the_sweep_decides_on_the_last_snapshot_and_says_how_old_it_was(
    world: World, committed: SM
) -> None:
    published = _published_days_ago(world.clock, 6)
    await world.fetch(5_000, published=published)
    seen = world.clock.now
    # The deadline (a day on) passes, fetches fail for the whole grace period.
    world.clock.advance(days=2, minutes=1)
    async with committed() as session:
        await session.execute(update(Post).values(last_attempt_at=world.clock.now))
        grace = timedelta(hours=24)
        assert await lifecycle_sweep.sweep(session, world.clock.now, world.policy, grace) == 1
        await session.commit()
    decision = (await world.evidence())["decision"]
    assert decision["code"] == "auto_finalized"
    assert "The platform did not answer since the deadline" in decision["reason"]
    found = decision["evidence"]
    assert datetime.fromisoformat(found["observed_at"]) == seen
    assert found["timing"]["cause"] == "stale"
    assert found["timing"]["note"] == "observed 1 day before the deadline"
    snapshots = {s["id"]: s for s in (await world.evidence())["snapshots"]}
    assert snapshots[found["snapshot_id"]]["views"] == 5_000


async def test_a_flag_the_campaign_holds_on_keeps_a_finalized_post_out_of_payouts(
    world: World,
) -> None:
    """Views purged after the decision, in a campaign that holds on views_dropped: the post
    stays finalized (its amount stands) but is not paid until a person has looked."""
    await world.api.patch(
        f"/v1/campaigns/{world.seeded.campaign_id}", json={"hold_on_flags": ["views_dropped"]}
    )
    published = _published_days_ago(world.clock, 8)
    await world.fetch(10_000, published=published)
    ready = (await world.api.get("/v1/payouts/ready")).json()["data"]
    assert [line["posts"] for line in ready] == [1]

    world.clock.advance(days=1)
    post = await world.fetch(7_999, published=published)
    assert post["status"] == "finalized"
    assert [h["code"] for h in post["holds"]] == ["views_dropped"]
    assert (await world.api.get("/v1/payouts/ready")).json()["data"] == []
    refused = await world.api.post("/v1/payouts", json={"post_ids": [str(world.post_id)]})
    assert refused.status_code in (409, 422), refused.text

    await world.api.post(
        f"/v1/posts/{world.post_id}/flags/views_dropped/resolve",
        json={"note": "Within what we tolerate for this creator."},
    )
    ready = (await world.api.get("/v1/payouts/ready")).json()["data"]
    assert [line["posts"] for line in ready] == [1]
