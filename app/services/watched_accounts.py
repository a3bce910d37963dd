"""Watching a member creator's account for a campaign (issue 29): the API's actions. The
watch job (app.workers.watcher) checks the accounts; `app.services.watch_checks` adds what it
finds."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import watching
from app.domain.enums import PLATFORM_NAMES
from app.domain.errors import Conflict, InvalidInput, NotFound, found
from app.models import WatchedAccount
from app.repositories import campaigns, creators
from app.repositories import watched_accounts as repo
from app.schemas.watched_accounts import WatchCreate, WatchOut, WatchSkipped, WatchUpdate


def present(watch: WatchedAccount) -> WatchOut:
    fields = {n: getattr(watch, n) for n in WatchOut.model_fields if n != "skipped"}
    return WatchOut.model_validate(
        {**fields, "skipped": WatchSkipped.model_validate(watch.skipped or {})}
    )


async def create(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, body: WatchCreate
) -> WatchedAccount:
    campaign = found(await campaigns.get(session, org, campaign_id), "campaign")
    creator = await creators.get(session, org, body.creator_id)
    if creator is None:
        raise InvalidInput("creator_not_found", "No creator with that id.", "creator_id")
    if creator.platform not in watching.WATCHABLE:
        raise InvalidInput(
            "platform_not_watchable",
            f"Accounts on {PLATFORM_NAMES[creator.platform]} cannot be watched yet: add "
            "their videos one by one (or in a bulk paste).",
            "creator_id",
        )
    if await creators.get_member(session, campaign.id, creator.id) is None:
        raise Conflict(
            "creator_not_member",
            f"Creator @{creator.handle} is not a member of this campaign; add them first.",
        )
    now = datetime.now(UTC)
    return await repo.create(
        session,
        {
            "organization_id": org,
            "campaign_id": campaign.id,
            "creator_id": creator.id,
            "platform": creator.platform,
            "enabled": body.enabled,
            "initial_import": body.initial_import,
            "include_hashtags": body.include_hashtags,
            "exclude_hashtags": body.exclude_hashtags,
            "started_at": now,
            "next_check_at": now if body.enabled else None,
        },
    )


async def get(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, watch_id: uuid.UUID
) -> WatchedAccount:
    found(await campaigns.get(session, org, campaign_id), "campaign")
    watch = await repo.get(session, org, campaign_id, watch_id)
    if watch is None:
        raise NotFound("watched_account")
    return watch


async def update(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    watch_id: uuid.UUID,
    body: WatchUpdate,
) -> WatchedAccount:
    """Pausing stops the checks (next_check_at null); enabling a paused watch checks it at
    once. Filters apply from the next check on."""
    watch = await get(session, org, campaign_id, watch_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if changes.get("enabled") is False:
        changes["next_check_at"] = None
    elif changes.get("enabled") is True and not watch.enabled:
        changes["next_check_at"] = datetime.now(UTC)
    return await repo.update_watch(session, watch, changes)


async def delete(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, watch_id: uuid.UUID
) -> None:
    """The posts it added stay, and keep being tracked."""
    await repo.delete(session, await get(session, org, campaign_id, watch_id))
