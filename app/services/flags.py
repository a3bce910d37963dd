"""Resolving an integrity flag (raised on fetch: app/domain/refresh.py decides, the result
writer writes): an admin resolves it with a note, and a hold the campaign raised for it is
cleared with it (deciding the post if it was the last)."""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.domain.errors import NotFound, found
from app.domain.policy import Policy
from app.models import Post
from app.repositories import flags, posts
from app.services import holds, transitions
from app.webhooks.events import EventType


async def resolve(
    session: AsyncSession,
    principal: Principal,
    post_id: uuid.UUID,
    code: str,
    note: str,
    policy: Policy,
) -> Post:
    """Resolve the post's open flag with this code; a hold it raised is cleared with it."""
    now = datetime.now(UTC)
    post = found(
        await posts.get(session, principal.organization_id, post_id, for_update=True), "post"
    )
    if await flags.resolve(session, post, code, principal.key_id, note, now) is None:
        raise NotFound("flag")
    await session.refresh(post)
    await transitions.announce(
        session, [(post.organization_id, post.id, EventType.POST_FLAG_RESOLVED)], now
    )
    return await holds.clear_locked(
        session, principal, post, code, f"Flag resolved: {note}", policy, now, missing_ok=True
    )
