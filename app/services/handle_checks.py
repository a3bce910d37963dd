"""The daily YouTube handle check's actions (the job: app/workers/handles.py): claim the
channels that are due, and record what channels.list said of them. A renamed channel's
creator is renamed through the writer every platform's renames go through
(`creators.rename_many`: the handle, its history row, the guard against a handle another
creator of the organization has) with the same `creator.renamed` webhook
(`authorship.renamed_events`), in the same transaction."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import handles
from app.domain.handles import Channel
from app.repositories import creators
from app.repositories import handle_checks as repo
from app.services import authorship
from app.webhooks import outbox


@dataclass(frozen=True)
class Claim:
    channels: list[Channel]
    until: datetime  # what the claim wrote as their last check (see handles.claimed_until)


async def claim(
    session: AsyncSession, now: datetime, every: timedelta, lease: timedelta, limit: int
) -> Claim:
    """Up to `limit` channels not checked for `every`, under a lease."""
    until = handles.claimed_until(now, every, lease)
    return Claim(await repo.claim(session, now - every, until, limit), until)


async def record(
    session: AsyncSession,
    channels: Sequence[Channel],
    found: Mapping[str, str | None],
    now: datetime,
) -> Sequence[Row[Any]]:
    """What one channels.list answer said of these channels (`found`: channel id -> handle,
    None for none; channels left out are absent): renames land, with their webhooks, and
    every channel asked about is checked as of now. Returns the renames made."""
    renamed = await creators.rename_many(session, handles.renames(channels, found), now)
    listening = await outbox.listening(session, {row.organization_id for row in renamed})
    await outbox.emit_many(
        session, await authorship.renamed_events(session, renamed, listening), now=now
    )
    await repo.checked(session, channels, now)
    return renamed


async def release(session: AsyncSession, claimed: Claim, channels: Sequence[Channel]) -> None:
    """These channels could not be checked (no units above the reserve, an error): each is
    due again as it was before the claim."""
    await repo.release(session, channels, claimed.until)
