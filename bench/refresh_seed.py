"""Seeding the refresh benchmark's scratch database straight in SQL: a few organizations, each
with a campaign, a CPM tier and the creators the provider answers name, then N posts per
platform from `generate_series`, all due now (added a moment ago, never fetched)."""

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from app.domain.enums import Platform
from app.ids import new_id

ORGANIZATIONS = 10

# Time-ordered ids like app.ids.new_id (UUIDv7 layout), from a millisecond count and a row number.
UUID7_SQL = (
    "CAST(lpad(to_hex({ms}), 12, '0') || '7' || substr(md5({seed}), 1, 3) || '8'"
    " || substr(md5({seed}), 4, 15) AS uuid)"
)


@dataclass(frozen=True)
class Tenants:
    organizations: list[uuid.UUID]
    campaigns: list[uuid.UUID]
    tiers: list[uuid.UUID]
    # creator id of (organization o, platform, pool slot j) at index o * pool + j
    creators: dict[Platform, list[uuid.UUID]]
    handles: dict[Platform, list[str]]


async def truncate_all(conn: asyncpg.Connection) -> None:
    tables = await conn.fetch(
        "SELECT quote_ident(tablename) AS t FROM pg_tables"
        " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
    )
    await conn.execute(f"TRUNCATE {', '.join(r['t'] for r in tables)} RESTART IDENTITY CASCADE")


async def seed_tenants(
    conn: asyncpg.Connection,
    slots: dict[Platform, list[tuple[str, str]]],  # per platform, (handle, user id) per slot
) -> Tenants:
    orgs = [new_id() for _ in range(ORGANIZATIONS)]
    campaigns = [new_id() for _ in orgs]
    tiers = [new_id() for _ in orgs]
    await conn.executemany(
        "INSERT INTO organizations (id, name) VALUES ($1, $2)",
        [(o, f"Bench {n}") for n, o in enumerate(orgs)],
    )
    await conn.executemany(
        "INSERT INTO campaigns (id, organization_id, name) VALUES ($1, $2, 'Bench campaign')",
        list(zip(campaigns, orgs, strict=True)),
    )
    await conn.executemany(
        "INSERT INTO cpm_tiers (id, organization_id, campaign_id, name, cpm)"
        " VALUES ($1, $2, $3, 'Standard', 4.5)",
        list(zip(tiers, orgs, campaigns, strict=True)),
    )
    creators: dict[Platform, list[uuid.UUID]] = {}
    handles: dict[Platform, list[str]] = {}
    for platform, pool in slots.items():
        handles[platform] = [h for h, _ in pool]
        by_slot: list[uuid.UUID] = []
        for org, campaign in zip(orgs, campaigns, strict=True):
            ids: dict[str, uuid.UUID] = {}
            for handle, user_id in dict.fromkeys(pool):
                ids[handle] = new_id()
                await conn.execute(
                    "INSERT INTO creators (id, organization_id, platform, handle, platform_user_id)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    ids[handle],
                    org,
                    platform.value,
                    handle,
                    user_id,
                )
                await conn.execute(
                    "INSERT INTO campaign_members (organization_id, campaign_id, creator_id)"
                    " VALUES ($1, $2, $3)",
                    org,
                    campaign,
                    ids[handle],
                )
            by_slot += [ids[h] for h, _ in pool]
        creators[platform] = by_slot
    return Tenants(orgs, campaigns, tiers, creators, handles)


_POSTS = """
INSERT INTO posts (id, organization_id, campaign_id, creator_id, platform, platform_post_id,
                   url, status, cpm_tier_id, created_at, updated_at, next_refresh_at)
SELECT {uuid}, ($1::uuid[])[g % $3 + 1], ($2::uuid[])[g % $3 + 1],
       ($4::uuid[])[(g % $3) * $5 + g % $5 + 1], $6, x.pid, $7 || x.pid || $8,
       'tracking', ($9::uuid[])[g % $3 + 1], $10::timestamptz, $10::timestamptz,
       $10::timestamptz - (($11::int - g) * interval '1 ms')
FROM generate_series(0, $11::int - 1) AS g,
     LATERAL (SELECT {pid} AS pid) AS x
"""


# Per platform: post g's id in SQL (bench.providers.post_id in Python), its URL around the
# id, and where its ids' time-ordered uuids start (ms after the base, so platforms never meet).
POST_SQL: dict[Platform, tuple[str, str, str, int]] = {
    Platform.TIKTOK: ("(10000 + g)::text", "https://www.tiktok.com/@bench/video/", "", 0),
    Platform.INSTAGRAM: (
        "'Cx' || lpad(g::text, 9, '0')",
        "https://www.instagram.com/p/",
        "/",
        10_000_000,
    ),
    # 11 characters, the last an `A`: a canonical YouTube id.
    Platform.YOUTUBE: (
        "'Yt' || lpad(g::text, 8, '0') || 'A'",
        "https://www.youtube.com/shorts/",
        "",
        20_000_000,
    ),
}


async def seed_posts(
    conn: asyncpg.Connection, tenants: Tenants, platform: Platform, n: int, now: datetime
) -> None:
    if n <= 0:
        return
    pool = len(tenants.handles[platform])
    pid, prefix, suffix, offset = POST_SQL[platform]
    base_ms = int((now - timedelta(hours=1)).timestamp() * 1000) + offset
    sql = _POSTS.format(
        uuid=UUID7_SQL.format(ms=f"{base_ms} + g", seed=f"g::text || '{platform.value}'"),
        pid=pid,
    )
    await conn.execute(
        sql,
        tenants.organizations,
        tenants.campaigns,
        len(tenants.organizations),
        tenants.creators[platform],
        pool,
        platform.value,
        prefix,
        suffix,
        tenants.tiers,
        now - timedelta(seconds=1),
        n,
    )


async def seed(
    dsn: str,
    slots: dict[Platform, list[tuple[str, str]]],
    counts: dict[Platform, int],
    now: datetime,
) -> Tenants:
    """Empty the database and seed it: `counts` posts per platform, all due at `now`."""
    conn = await asyncpg.connect(dsn)
    try:
        await truncate_all(conn)
        tenants = await seed_tenants(conn, slots)
        for platform, n in counts.items():
            await seed_posts(conn, tenants, platform, n, now)
        # A production database has statistics; the engine's and the baseline's plans need them.
        await conn.execute("VACUUM ANALYZE")
        # The seeding's pages (and a run's before it) written out now, not by a checkpoint
        # that lands inside the measurement.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
        return tenants
    finally:
        await conn.close()
