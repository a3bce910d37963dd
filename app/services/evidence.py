"""A post's evidence as the API shows it: its decisions with what they were made on, every
manual action with who and why, its flags, and the snapshots all of these name, with the
provider's raw answers."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import found
from app.repositories import flags, posts, provenance
from app.schemas.posts import EvidenceOut, FlagOut, SnapshotOut
from app.services import post_presenter


def _named(evidence: dict[str, Any] | None) -> list[int]:
    """The snapshot ids a decision's or a flag's evidence names."""
    if not evidence:
        return []
    ids = [evidence.get("snapshot_id")]
    ids += [s.get("snapshot_id") for s in evidence.get("snapshots", [])]
    return [i for i in ids if isinstance(i, int)]


async def of_post(session: AsyncSession, org: uuid.UUID, post_id: uuid.UUID) -> EvidenceOut:
    post = found(await posts.get(session, org, post_id), "post")
    events = await posts.all_events(session, post.id)
    flag_rows = await flags.for_post(session, post.id)
    named = [i for e in events for i in _named(e.evidence)]
    named += [i for f in flag_rows for i in _named(f.evidence)]
    if post.locked_snapshot_id is not None:
        named.append(post.locked_snapshot_id)
    decisions = [e for e in events if e.evidence is not None and e.from_status != e.to_status]
    snapshots = []
    for snapshot, raw in await provenance.snapshots(session, post.id, named):
        out = SnapshotOut.model_validate(snapshot)
        out.raw_answer = None if raw is None else raw.decode("utf-8", errors="replace")
        snapshots.append(out)
    shown = await post_presenter.present_events(session, events)
    by_id = {e.id: e for e in shown}
    return EvidenceOut(
        post=(await post_presenter.present(session, [post]))[0],
        decision=by_id[decisions[-1].id] if decisions else None,
        events=shown,
        snapshots=snapshots,
        flags=[FlagOut.model_validate(f) for f in flag_rows],
    )
