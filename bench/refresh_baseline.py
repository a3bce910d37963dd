"""The limit the engine is measured against: the same claims, parsing, decisions and writes
as `Refresher.refresh_due`, done straight with asyncpg in two round trips per batch.

Per batch of posts (the engine's claim size per platform):
1. one autocommit statement claims due posts under a lease (deadline-near posts first, like the
   engine, but through the two indexes that can serve it so it does not sort every due post),
   bumps the organizations' scheduled runs, and returns what deciding needs;
2. the answers are parsed with the app's own parsers (`parse_reply` of each provider) from the
   same bytes the in-process providers serve, and decided with the app's own pure rules;
3. one autocommit statement writes everything: the stats and schedule of every post (with the
   decision folded into the same row update when one was due, guarded like the engine's: the
   row must still carry the claim's lease, and be tracking with the same tier), one snapshot
   per post written, one event per decision, creator sync, and the run counters.
No HTTP client is involved: the provider answers are already bytes in memory."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from app.domain import lifecycle, schedule
from app.domain.enums import Platform, PostStatus
from app.domain.policy import Policy
from app.platforms import instagram, tiktok_primary
from app.platforms.contract import FetchResult, VideoStats
from app.platforms.http import Reply
from app.settings import Settings
from app.workers.refresher import claim_size
from bench.providers import TIKTOK_ID_BASE, Slot

_CLAIM = """
WITH urgent AS (
    SELECT id FROM posts
    WHERE status = 'tracking' AND aged_from <= $4 AND aged_from > $3
      AND platform = $1 AND next_refresh_at <= $2
      AND (lease_expires_at IS NULL OR lease_expires_at < $2)
    ORDER BY next_refresh_at
    LIMIT $5
    FOR UPDATE SKIP LOCKED
), rest AS (
    SELECT id FROM posts
    WHERE platform = $1 AND next_refresh_at <= $2 AND status <> 'rejected' AND aged_from > $3
      AND (lease_expires_at IS NULL OR lease_expires_at < $2)
    ORDER BY next_refresh_at
    LIMIT $5
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM urgent
    UNION ALL
    (SELECT id FROM rest WHERE id NOT IN (SELECT id FROM urgent)
     LIMIT $5 - (SELECT count(*) FROM urgent))
), claimed AS (
    UPDATE posts p SET lease_expires_at = $6 FROM due WHERE p.id = due.id
    RETURNING p.id, p.organization_id, p.campaign_id, p.creator_id, p.platform_post_id,
              p.status, p.published_at, p.created_at, p.cpm_tier_id, p.lease_expires_at,
              p.views
), queued AS (
    UPDATE refresh_runs r SET queued = r.queued + q.n, finished_at = NULL
    FROM (SELECT m.run, count(*) AS n
          FROM claimed c JOIN unnest($7::uuid[], $8::uuid[]) AS m(org, run)
            ON m.org = c.organization_id
          GROUP BY m.run) AS q
    WHERE r.id = q.run
)
SELECT p.id, p.organization_id, p.campaign_id, p.creator_id, p.platform_post_id, cr.handle,
       cr.platform_user_id, p.status, p.published_at, p.created_at, p.cpm_tier_id, t.cpm, t.cap,
       c.min_views, c.finalize_after_days, p.lease_expires_at AS lease, p.views
FROM claimed p
JOIN campaigns c ON c.id = p.campaign_id
JOIN creators cr ON cr.id = p.creator_id
LEFT JOIN cpm_tiers t ON t.id = p.cpm_tier_id
"""

_WRITE = """
WITH u AS (
    SELECT * FROM unnest(
        $2::uuid[], $3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
        $8::timestamptz[], $9::timestamptz[], $10::text[], $11::uuid[], $12::text[],
        $13::bigint[], $14::numeric[], $15::text[], $16::text[], $17::text[], $18::text[],
        $26::timestamptz[], $27::bigint[]
    ) AS u(id, campaign, views, likes, comments, shares, published_at, next_at, source,
           tier_id, status, locked, earnings, rcode, rreason, ecode, ereason, lease, gained)
), decided AS (
    UPDATE posts p SET
        views = u.views, likes = u.likes, comments = u.comments, shares = u.shares,
        published_at = coalesce(u.published_at, p.published_at),
        last_refreshed_at = $1::timestamptz, last_attempt_at = $1::timestamptz,
        last_error_code = NULL, last_error = NULL, last_error_at = NULL,
        consecutive_failures = 0,
        next_refresh_at = CASE WHEN u.status = 'rejected' THEN NULL ELSE u.next_at END,
        lease_expires_at = NULL, refresh_run_id = NULL, updated_at = $1::timestamptz,
        status = u.status, locked_views = u.locked, earnings = u.earnings,
        finalized_at = CASE WHEN u.status = 'finalized' THEN $1::timestamptz END,
        rejection_code = u.rcode, rejection_reason = u.rreason
    FROM u
    WHERE p.id = u.id AND p.lease_expires_at = u.lease AND u.status IS NOT NULL
      AND p.status = 'tracking' AND p.cpm_tier_id IS NOT DISTINCT FROM u.tier_id
    RETURNING p.id, p.organization_id
), refreshed AS (
    UPDATE posts p SET
        views = u.views, likes = u.likes, comments = u.comments, shares = u.shares,
        published_at = coalesce(u.published_at, p.published_at),
        last_refreshed_at = $1::timestamptz, last_attempt_at = $1::timestamptz,
        last_error_code = NULL, last_error = NULL, last_error_at = NULL,
        consecutive_failures = 0, next_refresh_at = u.next_at,
        lease_expires_at = NULL, refresh_run_id = NULL, updated_at = $1::timestamptz
    FROM u
    WHERE p.id = u.id AND p.lease_expires_at = u.lease
      AND NOT EXISTS (SELECT 1 FROM decided d WHERE d.id = u.id)
    RETURNING p.id
), snapshots AS (
    -- Only for the rows written (their lease still held), like the engine.
    INSERT INTO stats_snapshots (post_id, campaign_id, captured_at, views, likes, comments,
                                 shares, source)
    SELECT u.id, u.campaign, $1::timestamptz, u.views, u.likes, u.comments, u.shares, u.source
    FROM u WHERE u.id IN (SELECT id FROM decided UNION ALL SELECT id FROM refreshed)
), days AS (
    INSERT INTO campaign_daily_views (campaign_id, day, views_gained)
    SELECT u.campaign, $28::date, sum(u.gained)
    FROM u WHERE u.id IN (SELECT id FROM decided UNION ALL SELECT id FROM refreshed)
    GROUP BY u.campaign ORDER BY u.campaign
    ON CONFLICT (campaign_id, day)
    DO UPDATE SET views_gained = campaign_daily_views.views_gained + EXCLUDED.views_gained
), events AS (
    INSERT INTO post_events (organization_id, post_id, from_status, to_status, code, reason)
    SELECT d.organization_id, d.id, 'tracking', u.status, u.ecode, u.ereason
    FROM decided d JOIN u ON u.id = d.id
), creators_synced AS (
    UPDATE creators c SET handle = s.handle,
        platform_user_id = coalesce(s.user_id, c.platform_user_id), updated_at = $1::timestamptz
    FROM (
        SELECT DISTINCT ON (id) id, handle, user_id
        FROM unnest($19::uuid[], $20::text[], $21::text[]) AS x(id, handle, user_id)
    ) AS s
    WHERE c.id = s.id
      AND (c.platform_user_id IS NULL OR c.platform_user_id = s.user_id)
      AND (c.handle IS DISTINCT FROM s.handle OR c.platform_user_id IS DISTINCT FROM s.user_id)
      AND NOT EXISTS (
          SELECT 1 FROM creators o
          WHERE o.organization_id = c.organization_id AND o.platform = c.platform
            AND o.id <> c.id
            AND (lower(o.handle) = lower(s.handle) OR o.platform_user_id = s.user_id)
      )
), run_counts AS (
    INSERT INTO refresh_run_counts (run_id, source, outcome, count)
    SELECT * FROM unnest($22::uuid[], $23::text[], $24::text[], $25::int[])
    ON CONFLICT (run_id, source, outcome)
    DO UPDATE SET count = refresh_run_counts.count + EXCLUDED.count
), progress AS (
    UPDATE refresh_runs r SET done = r.done + x.n,
        started_at = coalesce(r.started_at, $1::timestamptz),
        finished_at = CASE WHEN r.done + x.n >= r.queued THEN $1::timestamptz END
    FROM unnest($22::uuid[], $25::int[]) AS x(id, n)
    WHERE r.id = x.id
)
SELECT (SELECT count(*) FROM decided) AS decided, (SELECT count(*) FROM refreshed) AS refreshed
"""


@dataclass
class Totals:
    posts: int = 0
    decided: int = 0
    batches: int = 0
    claim_s: float = 0.0
    parse_s: float = 0.0
    write_s: float = 0.0


def _event(decision: lifecycle.Decision, views: int) -> tuple[str, str]:
    if decision.status is PostStatus.REJECTED:
        return "auto_rejected", decision.rejection_reason or ""
    if decision.status is PostStatus.PENDING_CPM:
        return "awaiting_cpm", (
            f"{views:,} views locked at the deadline; assign a CPM tier to finalize."
        )
    return "auto_finalized", (
        f"{views:,} views locked at the deadline; earnings {decision.earnings}."
    )


def _slot_of(platform: Platform, post_id: str, size: int) -> int:
    if platform is Platform.TIKTOK:
        return (int(post_id) - TIKTOK_ID_BASE) % size
    return int(post_id[2:]) % size


class Baseline:
    def __init__(
        self,
        dsn: str,
        settings: Settings,
        pools: dict[Platform, list[Slot]],
        clock: Callable[[], datetime],
    ) -> None:
        self._dsn = dsn
        self._settings = settings
        self._pools = pools
        self._clock = clock
        self.policy: Policy = Policy.from_settings(settings)
        self._parse = {
            Platform.TIKTOK: tiktok_primary.parse_reply,
            Platform.INSTAGRAM: instagram.parse_reply,
        }

    def batch_size(self, platform: Platform) -> int:
        """The engine's claim size, so both claim alike."""
        return claim_size(self._settings, platform)

    async def run(
        self, measure: Callable[[], object] | None = None
    ) -> tuple[float, dict[Platform, Totals]]:
        """Both platforms at once on one connection each, like the engine's two sweeps.
        `measure` is called when they are done, while the connections are still open."""
        setup = await asyncpg.connect(self._dsn)
        try:
            orgs = [r["id"] for r in await setup.fetch("SELECT id FROM organizations")]
            runs = {platform: {o: uuid.uuid4() for o in orgs} for platform in self._pools}
            now = self._clock()
            for platform, by_org in runs.items():
                await setup.executemany(
                    "INSERT INTO refresh_runs (id, organization_id, kind, scope, started_at)"
                    " VALUES ($1, $2, 'scheduled', $3::jsonb, $4)",
                    [
                        (run, org, f'{{"platform": "{platform}"}}', now)
                        for org, run in by_org.items()
                    ],
                )
        finally:
            await setup.close()
        conns = [await asyncpg.connect(self._dsn) for _ in self._pools]
        try:
            start = time.perf_counter()
            results = await asyncio.gather(
                *(
                    self._sweep(conn, platform, runs[platform])
                    for conn, platform in zip(conns, self._pools, strict=True)
                )
            )
            wall = time.perf_counter() - start
            if measure is not None:
                measure()
        finally:
            for conn in conns:
                await conn.close()
        return wall, dict(zip(self._pools, results, strict=True))

    async def _sweep(
        self, conn: asyncpg.Connection, platform: Platform, runs: dict[uuid.UUID, uuid.UUID]
    ) -> Totals:
        totals = Totals()
        pool = self._pools[platform]
        parse = self._parse[platform]
        cadence = self.policy.cadence
        limit = self.batch_size(platform)
        lease = timedelta(seconds=self._settings.claim_lease_seconds)
        near = timedelta(days=self._settings.finalize_after_days) - cadence.active
        run_orgs, run_ids = list(runs), list(runs.values())
        while True:
            now = self._clock()
            t0 = time.perf_counter()
            rows = await conn.fetch(
                _CLAIM,
                platform.value,
                now,
                now - cadence.window,
                now - near,
                limit,
                now + lease,
                run_orgs,
                run_ids,
            )
            t1 = time.perf_counter()
            totals.claim_s += t1 - t0
            if not rows:
                return totals
            results: list[FetchResult] = [
                parse(Reply(200, pool[_slot_of(platform, r["platform_post_id"], len(pool))].body))
                for r in rows
            ]
            args = self._write_args(platform, rows, results, runs, now)
            t2 = time.perf_counter()
            totals.parse_s += t2 - t1
            written = await conn.fetchrow(_WRITE, *args)
            totals.write_s += time.perf_counter() - t2
            totals.posts += len(rows)
            totals.decided += written["decided"]
            totals.batches += 1

    def _write_args(
        self,
        platform: Platform,
        rows: list[asyncpg.Record],
        results: list[FetchResult],
        runs: dict[uuid.UUID, uuid.UUID],
        now: datetime,
    ) -> list[object]:
        cols: dict[str, list[object]] = {k: [] for k in _COLUMNS}
        sync_ids: list[object] = []
        sync_handles: list[object] = []
        sync_users: list[object] = []
        claimants: dict[str, set[uuid.UUID]] = {}
        counts: Counter[tuple[uuid.UUID, str]] = Counter()
        cadence = self.policy.cadence
        for row, result in zip(rows, results, strict=True):
            # Every answer here is a success; failures and skips are the engine's other paths.
            assert isinstance(result, VideoStats), result
            rules = self.policy.rules(row["min_views"], row["finalize_after_days"])
            status = PostStatus(row["status"])
            aged_from = result.published_at or row["published_at"] or row["created_at"]
            deadline = aged_from + rules.finalize_after
            decision = None
            if status is PostStatus.TRACKING and deadline <= now:
                tier = None if row["cpm"] is None else lifecycle.Tier(row["cpm"], row["cap"])
                decision = lifecycle.decide(result.views, tier, rules)
            code, reason = _event(decision, result.views) if decision else (None, None)
            values = (
                row["id"], row["campaign_id"], result.views, result.likes, result.comments,
                result.shares, result.published_at,
                schedule.next_refresh(status, aged_from, now, cadence, deadline=deadline),
                result.source.value, row["cpm_tier_id"],
                decision.status.value if decision else None,
                decision.locked_views if decision else None,
                decision.earnings if decision else None,
                decision.rejection_code if decision else None,
                decision.rejection_reason if decision else None,
                code, reason, row["lease"], result.views - row["views"],
            )  # fmt: skip
            for name, value in zip(_COLUMNS, values, strict=True):
                cols[name].append(value)
            if platform is Platform.TIKTOK and result.handle:
                sync_ids.append(row["creator_id"])
                sync_handles.append(result.handle)
                sync_users.append(result.platform_user_id)
                for key in (f"h:{result.handle.lower()}", f"u:{result.platform_user_id}"):
                    claimants.setdefault(key, set()).add(row["creator_id"])
            counts[runs[row["organization_id"]], result.source.value] += 1
        # Two creators of one batch claiming the same account: neither is synced (as the engine).
        keep = [
            i
            for i, h in enumerate(sync_handles)
            if len(claimants[f"h:{str(h).lower()}"]) == 1
            and len(claimants[f"u:{sync_users[i]}"]) == 1
        ]
        keys = list(counts)
        lease, gained = cols.pop("lease"), cols.pop("gained")
        return [
            now,
            *cols.values(),
            [sync_ids[i] for i in keep],
            [sync_handles[i] for i in keep],
            [sync_users[i] for i in keep],
            [k[0] for k in keys],
            [k[1] for k in keys],
            ["refreshed"] * len(keys),
            [counts[k] for k in keys],
            lease,
            gained,
            now.astimezone(UTC).date(),
        ]


_COLUMNS = (
    "id", "campaign", "views", "likes", "comments", "shares", "published_at", "next_at",
    "source", "tier_id", "status", "locked", "earnings", "rcode", "rreason", "ecode", "ereason",
    "lease", "gained",
)  # fmt: skip
