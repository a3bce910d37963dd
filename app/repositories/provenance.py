"""Raw provider answers behind snapshots: stored compressed as they are written, kept for good
once a decision or a flag names their snapshot, and pruned otherwise after the retention."""

import uuid
import zlib
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RawAnswer, StatsSnapshot
from app.repositories.common import delete_oldest

PRUNE_BATCH = 1000
# zlib's fastest level: JSON answers shrink 4-6x at it, and the writer compresses a whole
# batch of answers on the event loop.
_LEVEL = 1

_STORE = text(
    """
    INSERT INTO raw_answers (snapshot_id, captured_at, body, size, kept)
    SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:at AS timestamptz[]),
                         CAST(:bodies AS bytea[]), CAST(:sizes AS integer[]),
                         CAST(:kept AS boolean[]))
    """
)


async def store(
    session: AsyncSession,
    answers: Sequence[tuple[int, datetime, bytes]],
    kept: Collection[int] = (),
) -> None:
    """(snapshot id, captured at, the answer as it came) for each answer; those of the
    snapshots in `kept` (named by a decision or a flag of the same write) kept at once."""
    if not answers:
        return
    await session.execute(
        _STORE,
        {
            "ids": [a[0] for a in answers],
            "at": [a[1] for a in answers],
            "bodies": [zlib.compress(a[2], _LEVEL) for a in answers],
            "sizes": [len(a[2]) for a in answers],
            "kept": [a[0] in kept for a in answers],
        },
    )


async def keep(session: AsyncSession, snapshot_ids: Sequence[int]) -> None:
    """These snapshots back a decision or a flag: their answers are never pruned."""
    if snapshot_ids:
        await session.execute(
            update(RawAnswer)
            .where(RawAnswer.snapshot_id.in_(sorted(set(snapshot_ids))), ~RawAnswer.kept)
            .values(kept=True)
            .execution_options(synchronize_session=False)
        )


async def prune(session: AsyncSession, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Deletes up to `batch` answers captured before `before` that nothing keeps. Returns how
    many; call again while it returns `batch`."""
    return await delete_oldest(
        session, RawAnswer.snapshot_id, RawAnswer.captured_at, before, batch, ~RawAnswer.kept
    )


async def snapshots(
    session: AsyncSession, post_id: uuid.UUID, snapshot_ids: Sequence[int]
) -> list[tuple[StatsSnapshot, bytes | None]]:
    """These snapshots of the post, oldest first, with their raw answers (None once pruned)."""
    if not snapshot_ids:
        return []
    rows = await session.execute(
        select(StatsSnapshot, RawAnswer.body)
        .outerjoin(RawAnswer, RawAnswer.snapshot_id == StatsSnapshot.id)
        .where(StatsSnapshot.post_id == post_id, StatsSnapshot.id.in_(sorted(set(snapshot_ids))))
        .order_by(StatsSnapshot.id)
    )
    return [(snap, None if raw is None else zlib.decompress(raw)) for snap, raw in rows]


async def raw_answer(session: AsyncSession, post_id: uuid.UUID, snapshot_id: int) -> bytes | None:
    """One snapshot's raw answer, if the post has that snapshot and the answer is kept."""
    compressed = await session.scalar(
        select(RawAnswer.body)
        .join(StatsSnapshot, StatsSnapshot.id == RawAnswer.snapshot_id)
        .where(StatsSnapshot.post_id == post_id, RawAnswer.snapshot_id == snapshot_id)
    )
    return None if compressed is None else zlib.decompress(compressed)
