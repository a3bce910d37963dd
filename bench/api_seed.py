"""Seeding the API benchmark's database in SQL (`INSERT ... SELECT generate_series`), not
through the API: 10 organizations x 100 campaigns x 1,000 posts = 1,000,000 posts, each
campaign with a CPM tier and 20 member creators, and `snapshots_per_post` daily stats
snapshots per post (skipping days before it was published) for the analytics endpoint.

Statuses follow the lifecycle: posts younger than 7 days are `tracking`; older ones are
`finalized` (earnings computed from their locked views), `paid`, `pending_cpm` or `rejected`
(below 1,000 views). Ids are time-ordered (UUIDv7 layout, like app.ids.new_id) by created_at.

The finished database carries a fingerprint (migration head + seed parameters) in its
comment; a later run reuses it when the fingerprint matches, unless --reseed."""

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import asyncpg

from app.services import readiness
from bench import common

SEED_VERSION = 4


@dataclass(frozen=True)
class SeedShape:
    organizations: int = 10
    campaigns_per_org: int = 100
    posts_per_campaign: int = 1000
    creators_per_platform: int = 100  # per organization
    members_per_platform: int = 10  # per campaign
    snapshots_per_post: int = 10

    @property
    def posts(self) -> int:
        return self.organizations * self.campaigns_per_org * self.posts_per_campaign


def fingerprint(shape: SeedShape) -> str:
    return json.dumps(
        {"seed": SEED_VERSION, "revision": readiness.migration_head(), **asdict(shape)},
        sort_keys=True,
    )


UUID7 = (
    "CAST(lpad(to_hex(({ts}) + {n}), 12, '0') || '7' || substr(md5({seed}), 1, 3) || '8'"
    " || substr(md5({seed}), 4, 15) AS uuid)"
)


def _uuid7(ts_ms: str, n: str, seed: str) -> str:
    return UUID7.format(ts=ts_ms, n=n, seed=seed)


CREATOR_SEED = "'cr' || orgs.o || ':' || n || ':' || pl"


async def _timed(conn: asyncpg.Connection, label: str, sql: str, *args: object) -> None:
    t0 = time.perf_counter()
    status = await conn.execute(sql, *args)
    print(f"   {label:<34} {time.perf_counter() - t0:7.1f} s  {status}", flush=True)


async def _plain_indexes(conn: asyncpg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Secondary indexes not behind a constraint: dropped during the load, rebuilt after."""
    rows = await conn.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY($1::text[]) AND t.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        list(tables),
    )
    for row in rows:
        await conn.execute(f"DROP INDEX {row['name']}")
    return [row["def"] for row in rows]


async def seed(url: str, shape: SeedShape) -> None:
    """Recreate, migrate and fill the database; about 3 minutes for the default shape."""
    print(f"   recreating {url.rsplit('/', 1)[-1]} and migrating", flush=True)
    await common.recreate_database(url)
    await common.migrate(url)
    conn = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        # Rows are consistent by construction; skipping the per-row foreign-key triggers is
        # what makes a million-row load take seconds.
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("SELECT setseed(0.42)")
        indexes = await _plain_indexes(conn, ("posts", "stats_snapshots"))
        now = datetime.now(UTC).replace(microsecond=0)
        await _load(conn, shape, now)
        t0 = time.perf_counter()
        for definition in indexes:
            await conn.execute(definition)
        print(f"   {'indexes rebuilt':<34} {time.perf_counter() - t0:7.1f} s", flush=True)
        await conn.execute("SET session_replication_role = origin")
        t0 = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        print(f"   {'vacuum analyze':<34} {time.perf_counter() - t0:7.1f} s", flush=True)
    finally:
        await conn.close()
    await mark(url, shape)


async def mark(url: str, shape: SeedShape) -> None:
    """Records what the database holds (its fingerprint) as the database's comment."""
    admin = await asyncpg.connect(common.asyncpg_dsn(url))
    try:
        name = url.rsplit("/", 1)[-1]
        comment = fingerprint(shape).replace("'", "''")
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{comment}'")
    finally:
        await admin.close()


def only_revision_differs(have: str | None, shape: SeedShape) -> bool:
    """A database seeded with this shape at an older schema revision: migrating it forward
    gives what a deployment's upgrade gives, without seeding again."""
    if not have:
        return False
    try:
        old = json.loads(have)
    except ValueError:
        return False
    new = json.loads(fingerprint(shape))
    old.pop("revision", None)
    new.pop("revision")
    return bool(old == new)


async def _load(conn: asyncpg.Connection, s: SeedShape, now: datetime) -> None:
    campaigns = s.organizations * s.campaigns_per_org
    now_ms = int(now.timestamp() * 1000)
    await _timed(
        conn,
        "organizations",
        f"""
        INSERT INTO organizations (id, name, created_at)
        SELECT {_uuid7(str(now_ms - 50 * 86_400_000), "o", "'org' || o")},
               'Bench org ' || o, $1::timestamptz - interval '50 days'
        FROM generate_series(0, $2::int - 1) AS o
        """,
        now,
        s.organizations,
    )
    # Campaign c belongs to organization c / campaigns_per_org.
    await _timed(
        conn,
        "campaigns + tiers",
        f"""
        WITH orgs AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS o FROM organizations),
        c AS (
            SELECT g AS c, {_uuid7(str(now_ms - 45 * 86_400_000), "g", "'campaign' || g")} AS id
            FROM generate_series(0, $1::int - 1) AS g
        ), ins AS (
            INSERT INTO campaigns (id, organization_id, name, created_at, updated_at)
            SELECT c.id, orgs.id, 'Campaign ' || c.c, $3::timestamptz - interval '45 days',
                   $3::timestamptz - interval '45 days'
            FROM c JOIN orgs ON orgs.o = c.c / $2::int
            RETURNING id, organization_id
        )
        INSERT INTO cpm_tiers (id, organization_id, campaign_id, name, cpm, cap)
        SELECT {_uuid7(str(now_ms - 45 * 86_400_000), "0", "'tier' || ins.id")},
               ins.organization_id, ins.id, 'Standard', 4.5,
               CASE WHEN get_byte(uuid_send(ins.id), 15) % 2 = 0 THEN 250.00 END
        FROM ins
        """,
        campaigns,
        s.campaigns_per_org,
        now,
    )
    await _timed(
        conn,
        "creators",
        f"""
        WITH orgs AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS o FROM organizations)
        INSERT INTO creators (id, organization_id, platform, handle, platform_user_id,
                              created_at, updated_at)
        SELECT {_uuid7(str(now_ms - 44 * 86_400_000), "orgs.o * 1000 + n * 2 + pl", CREATOR_SEED)},
               orgs.id, (ARRAY['tiktok', 'instagram'])[pl + 1],
               (ARRAY['tt', 'ig'])[pl + 1] || '_o' || orgs.o || '_c' || n,
               (6800000000000000000 + orgs.o * 100000 + n * 2 + pl)::text,
               $2::timestamptz - interval '44 days', $2::timestamptz - interval '44 days'
        FROM orgs, generate_series(0, $1::int - 1) AS n, generate_series(0, 1) AS pl
        """,
        s.creators_per_platform,
        now,
    )
    # Campaign k of an organization has creators k*m .. k*m+m-1 (mod creators) of each platform.
    await _timed(
        conn,
        "campaign members",
        """
        WITH camp AS (
            SELECT id, organization_id,
                   row_number() OVER (PARTITION BY organization_id ORDER BY id) - 1 AS k
            FROM campaigns
        ), cr AS (
            SELECT id, organization_id, platform,
                   row_number() OVER (PARTITION BY organization_id, platform ORDER BY id) - 1 AS n
            FROM creators
        )
        INSERT INTO campaign_members (organization_id, campaign_id, creator_id, cpm_tier_id,
                                      created_at)
        SELECT camp.organization_id, camp.id, cr.id, t.id, $3::timestamptz - interval '44 days'
        FROM camp
        JOIN cpm_tiers t ON t.campaign_id = camp.id
        JOIN cr ON cr.organization_id = camp.organization_id
             AND cr.n >= (camp.k * $1::int) % $2::int
             AND cr.n < (camp.k * $1::int) % $2::int + $1::int
        """,
        s.members_per_platform,
        s.creators_per_platform,
        now,
    )
    await _timed(conn, "posts", _posts_sql(s, now_ms), now, s.posts_per_campaign)
    await _timed(
        conn,
        "stats snapshots",
        """
        INSERT INTO stats_snapshots (post_id, campaign_id, captured_at, views, likes,
                                     comments, shares, source)
        SELECT p.id, p.campaign_id, x.at,
               floor(p.views * x.f)::bigint, floor(p.likes * x.f)::bigint,
               floor(p.comments * x.f)::bigint, floor(coalesce(p.shares, 0) * x.f)::bigint,
               CASE WHEN p.platform = 'tiktok' THEN 'primary' ELSE 'instagram' END
        FROM posts p,
             LATERAL (
                 SELECT $1::timestamptz - d * interval '1 day' - interval '3 hours' AS at,
                        1.0 - d::numeric / ($2::int * 2) AS f
                 FROM generate_series(0, $2::int - 1) AS d
             ) AS x
        WHERE x.at >= p.aged_from AND p.last_refreshed_at IS NOT NULL
        """,
        now,
        s.snapshots_per_post,
    )
    # What an upgraded database holds: the migration's own backfill from the snapshots.
    await _timed(conn, "campaign daily views", common.migration("0004").BACKFILL)
    await _timed(conn, "creator daily views", common.migration("0023").BACKFILL)


def _posts_sql(s: SeedShape, now_ms: int) -> str:
    """Post j of campaign k: platform alternates, creator is one of the campaign's members;
    created up to 40 days ago, published up to a day before it was added."""
    return f"""
    WITH camp AS (
        SELECT c.id, c.organization_id, t.id AS tier, t.cpm, t.cap,
               row_number() OVER (ORDER BY c.id) - 1 AS k
        FROM campaigns c JOIN cpm_tiers t ON t.campaign_id = c.id
    ), members AS (
        SELECT m.campaign_id, c.platform, c.handle, c.id AS creator_id,
               row_number() OVER (PARTITION BY m.campaign_id, c.platform ORDER BY c.id) - 1 AS n
        FROM campaign_members m JOIN creators c ON c.id = m.creator_id
    ), raw AS (
        SELECT camp.*, j,
               CASE WHEN j % 2 = 0 THEN 'tiktok' ELSE 'instagram' END AS platform,
               $1::timestamptz - random() * interval '40 days' AS created_at,
               random() * interval '1 day' AS publish_lead,
               floor(exp(random() * 13))::bigint AS views,
               random() AS r
        FROM camp, generate_series(0, $2::int - 1) AS j
    ), shaped AS (
        SELECT raw.*, m.handle, m.creator_id,
               CASE WHEN raw.platform = 'tiktok'
                    THEN (7000000000000000000 + raw.k * 100000 + raw.j)::text
                    ELSE 'Bx' || lpad((raw.k * 100000 + raw.j)::text, 9, '0') END AS post_id,
               raw.created_at - raw.publish_lead AS published_at,
               CASE
                   WHEN raw.created_at - raw.publish_lead > $1::timestamptz - interval '7 days'
                       THEN 'tracking'
                   WHEN raw.views < 1000 THEN 'rejected'
                   WHEN raw.r < 0.05 THEN 'pending_cpm'
                   WHEN raw.r < 0.20 THEN 'paid'
                   ELSE 'finalized'
               END AS status
        FROM raw
        JOIN members m ON m.campaign_id = raw.id AND m.platform = raw.platform
                      AND m.n = (raw.j / 2) % {s.members_per_platform}
    )
    INSERT INTO posts (id, organization_id, campaign_id, creator_id, platform, platform_post_id,
                       url, published_at, status, cpm_tier_id, views, likes, comments, shares,
                       locked_views, earnings, finalized_at, rejection_code, rejection_reason,
                       paid_at, payout_reference, last_refreshed_at, consecutive_failures,
                       next_refresh_at, created_at, updated_at)
    SELECT
        {_uuid7("(extract(epoch FROM created_at) * 1000)::bigint", "0", "post_id || k")},
        organization_id, id, creator_id, platform, post_id,
        CASE WHEN platform = 'tiktok'
             THEN 'https://www.tiktok.com/@' || handle || '/video/' || post_id
             ELSE 'https://www.instagram.com/p/' || post_id || '/' END,
        published_at, status,
        CASE WHEN status = 'pending_cpm' THEN NULL ELSE tier END,
        views, views * 8 / 100, views / 200,
        CASE WHEN platform = 'tiktok' THEN views / 150 END,
        CASE WHEN status IN ('finalized', 'paid', 'pending_cpm') THEN views END,
        CASE WHEN status IN ('finalized', 'paid')
             THEN least(round(views * cpm / 1000, 2), coalesce(cap, 'Infinity'::numeric)) END,
        CASE WHEN status IN ('finalized', 'paid') THEN published_at + interval '7 days' END,
        CASE WHEN status = 'rejected' THEN 'below_min_views' END,
        CASE WHEN status = 'rejected'
             THEN 'Had ' || views || ' views at 7 days; the minimum is 1,000.' END,
        CASE WHEN status = 'paid' THEN published_at + interval '9 days' END,
        CASE WHEN status = 'paid' THEN 'PAYOUT-' || k END,
        $1::timestamptz - random() * interval '6 hours',
        0,
        CASE WHEN status = 'rejected' OR published_at < $1::timestamptz - interval '30 days'
                 THEN NULL
             WHEN status IN ('tracking', 'pending_cpm')
                 THEN $1::timestamptz + random() * interval '6 hours'
             ELSE $1::timestamptz + random() * interval '24 hours' END,
        created_at, $1::timestamptz - random() * interval '6 hours'
    FROM shaped
    """
