"""Keeping creators in step with what the platform says about the author of their videos."""

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.platforms.contract import VideoStats
from app.workers.claims import DuePost

# Only for the account the creator already is (same user id, or none known yet), and never
# onto another creator's handle or id, which the unique indexes would refuse for the whole
# batch.
_SYNC = text(
    """
    UPDATE creators c SET handle = u.handle,
        platform_user_id = coalesce(u.user_id, c.platform_user_id), updated_at = :now
    FROM (
        SELECT DISTINCT ON (id) id, handle, user_id
        FROM unnest(CAST(:ids AS uuid[]), CAST(:handles AS text[]), CAST(:user_ids AS text[]))
             AS x(id, handle, user_id)
    ) AS u
    WHERE c.id = u.id
      AND (c.platform_user_id IS NULL OR c.platform_user_id = u.user_id)
      AND (c.handle IS DISTINCT FROM u.handle OR c.platform_user_id IS DISTINCT FROM u.user_id)
      AND NOT EXISTS (
          SELECT 1 FROM creators o
          WHERE o.organization_id = c.organization_id AND o.platform = c.platform
            AND o.id <> c.id
            AND (lower(o.handle) = lower(u.handle) OR o.platform_user_id = u.user_id)
      )
    """
)


async def sync(session: AsyncSession, ok: list[tuple[DuePost, VideoStats]], now: datetime) -> None:
    synced = _unambiguous(ok)
    if synced:
        await session.execute(
            _SYNC,
            {
                "now": now,
                "ids": [p.creator_id for p, _ in synced],
                "handles": [s.handle for _, s in synced],
                "user_ids": [s.platform_user_id for _, s in synced],
            },
        )


def _unambiguous(ok: list[tuple[DuePost, VideoStats]]) -> list[tuple[DuePost, VideoStats]]:
    """TikTok answers that name the creator's account. When two creators in one batch would
    take the same handle or user id, neither is synced: that is for a person to sort out."""
    synced = [(p, s) for p, s in ok if p.platform is Platform.TIKTOK and s.handle]

    def keys(stats: VideoStats) -> list[str]:
        found = [f"handle:{(stats.handle or '').lower()}"]
        return found + ([f"user:{stats.platform_user_id}"] if stats.platform_user_id else [])

    claimants: dict[str, set[uuid.UUID]] = {}
    for post, stats in synced:
        for key in keys(stats):
            claimants.setdefault(key, set()).add(post.creator_id)
    return [(p, s) for p, s in synced if all(len(claimants[k]) == 1 for k in keys(s))]
