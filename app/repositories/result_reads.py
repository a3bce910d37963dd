"""What writing a batch of fetch results reads before it decides anything (the decisions are
app/domain/refresh.py's, the writes repositories/stats.py's and their neighbours'), in the
transaction that then writes: the batch's posts, locked in id order, with whether each still
carries the claim's lease, a snapshot id reserved for each applied fetch, and the flag and
hold codes each has; the batch's creators, locked, with whose each named account is; and each
post's spike base. Locked, what was read is what the writes find: a lease, a creator's
binding or a post's codes cannot change between the two."""

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.authorship import Author
from app.domain.enums import Platform
from app.domain.refresh import Account, DuePost, Seen
from app.repositories import flags

_POSTS = text(
    """
    SELECT p.id, p.lease_expires_at = u.lease AS held,
        nextval(pg_get_serial_sequence('stats_snapshots', 'id')) AS snapshot_id,
        ARRAY(SELECT f.code FROM post_flags f WHERE f.post_id = p.id) AS flag_codes,
        ARRAY(SELECT h.code FROM post_holds h WHERE h.post_id = p.id) AS hold_codes
    FROM posts p
    JOIN unnest(CAST(:ids AS uuid[]), CAST(:leases AS timestamptz[])) AS u(id, lease)
        ON p.id = u.id
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
    """
)

# The batch's creators (locked: a bind or a rename of another writer waits, and is seen) and
# the creators who hold the accounts the answers name.
_CREATORS = text(
    """
    SELECT c.id, c.organization_id, c.platform, c.handle, c.platform_user_id,
        c.id = ANY(CAST(:ids AS uuid[])) AS in_batch
    FROM creators c
    WHERE c.id IN (
        SELECT id FROM creators WHERE id = ANY(CAST(:ids AS uuid[]))
        UNION
        SELECT k.id FROM creators k
        JOIN unnest(CAST(:orgs AS uuid[]), CAST(:platforms AS text[]), CAST(:users AS text[]))
            AS a(org, platform, user_id)
            ON k.organization_id = a.org AND k.platform = a.platform
            AND k.platform_user_id = a.user_id
    )
    ORDER BY c.id
    FOR NO KEY UPDATE OF c
    """
)


async def read(
    session: AsyncSession,
    applied: Sequence[DuePost],
    accounts: Collection[Account],
    spike_checked: Sequence[uuid.UUID],
    since: datetime,
    until: datetime,
) -> Seen:
    """What deciding the applied fetches of these posts needs (app.domain.refresh.Seen)."""
    held: set[uuid.UUID] = set()
    snapshot_ids: dict[uuid.UUID, int] = {}
    flag_codes: dict[uuid.UUID, set[str]] = {}
    hold_codes: dict[uuid.UUID, set[str]] = {}
    if applied:
        rows = await session.execute(
            _POSTS, {"ids": [p.id for p in applied], "leases": [p.lease for p in applied]}
        )
        for row in rows:
            if row.held:
                held.add(row.id)
            snapshot_ids[row.id] = row.snapshot_id
            flag_codes[row.id] = set(row.flag_codes)
            hold_codes[row.id] = set(row.hold_codes)
    authors: dict[uuid.UUID, Author] = {}
    holders: dict[Account, dict[uuid.UUID, str | None]] = defaultdict(dict)
    if applied:
        listed = sorted(accounts)
        rows = await session.execute(
            _CREATORS,
            {
                "ids": list({p.creator_id for p in applied}),
                "orgs": [a[0] for a in listed],
                "platforms": [str(a[1]) for a in listed],
                "users": [a[2] for a in listed],
            },
        )
        for row in rows:
            if row.in_batch:
                authors[row.id] = Author(row.handle, row.platform_user_id)
            if row.platform_user_id is not None:
                account = (row.organization_id, Platform(row.platform), row.platform_user_id)
                holders[account][row.id] = row.handle
    bases = await flags.spike_bases(session, spike_checked, since, until)
    return Seen(held, snapshot_ids, flag_codes, hold_codes, authors, dict(holders), bases)
