"""Bulk paste: many URLs into one campaign, each line handled on its own through the same
post service as `POST .../posts` (every check applies), with an outcome per line.

Lines are handled in the worker, not in the request: 1,000 lines may each follow short links
(seconds per hop), far past what an HTTP request should wait. Each chunk of lines is one
transaction and each line a savepoint in it, so one refused line never undoes another, and a
chunk's lines and the import's progress commit together. A killed worker loses at most the
chunk it was on: its lease lapses and the sweep hands the import to another worker, which
carries on from the first unhandled line."""

import logging
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.db import session_scope
from app.domain import campaigns as campaign_rules
from app.domain.enums import Role
from app.domain.errors import Conflict, DomainError, found
from app.models import PostImport, PostImportLine
from app.platforms.shortlinks import resolver_for
from app.repositories import campaigns
from app.repositories import post_imports as repo
from app.schemas.post_imports import ImportLineIn, ImportLineOut, PostImportOut
from app.schemas.posts import PostCreate
from app.services import posts
from app.settings import Settings

log = logging.getLogger(__name__)

ADDED = "added"
# The post service's refusal codes as a line's outcome; any other code is its own outcome.
OUTCOMES = {
    "post_exists": "already_tracked",
    "invalid_url": "invalid_url",
    "invalid_post_id": "invalid_url",
    "creator_not_member": "not_member",
    "author_mismatch": "author_mismatch",
    "campaign_ended": "campaign_ended",
}


async def create(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, lines: list[ImportLineIn]
) -> PostImport:
    org = principal.organization_id
    campaign = found(await campaigns.get(session, org, campaign_id), "campaign")
    campaign_rules.ensure_takes_posts(campaign.status, campaign.ends_on, datetime.now(UTC))
    return await repo.create(
        session, org, campaign_id, principal.key_id, [(ln.url, ln.creator_id) for ln in lines]
    )


async def present(session: AsyncSession, row: PostImport) -> PostImportOut:
    if row.finished_at is not None:
        state = "finished"
    else:
        state = "running" if row.done or row.lease_until is not None else "queued"
    return PostImportOut(
        id=row.id,
        campaign_id=row.campaign_id,
        status=state,
        total=row.total,
        done=row.done,
        counts=await repo.counts(session, row.id),
        lines=[ImportLineOut.model_validate(ln) for ln in await repo.lines(session, row.id)],
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


async def _one(
    session: AsyncSession,
    http: httpx.AsyncClient,
    settings: Settings,
    principal: Principal,
    row: PostImport,
    line: PostImportLine,
) -> None:
    """Handles one line, in a savepoint: whatever it comes to, only it is undone."""
    line.handled_at = datetime.now(UTC)
    try:
        body = PostCreate(url=line.url, creator_id=line.creator_id)
    except ValidationError:
        line.outcome, line.detail = "invalid_url", "The URL is not valid."
        return
    campaign = await campaigns.get(session, row.organization_id, row.campaign_id)
    assert campaign is not None  # the import cascades with its campaign
    try:
        async with session.begin_nested():
            ref = await posts.reference(body, resolver_for(http, settings))
            post = await posts.create(session, principal, campaign, body, ref)
    except DomainError as exc:
        line.outcome, line.detail = OUTCOMES.get(exc.code, exc.code), exc.detail
        if isinstance(exc, Conflict) and exc.code == "post_exists":
            line.post_id = exc.extra.get("existing_post_id")
        return
    except IntegrityError:
        # Another writer added the same video between the check and the insert.
        line.outcome, line.detail = "already_tracked", "The organization already tracks it."
        return
    line.outcome, line.detail, line.post_id = ADDED, None, post.id


async def process(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    settings: Settings,
    import_id: uuid.UUID,
) -> int:
    """Handles the import's remaining lines if no other worker holds it; returns how many
    lines this call handled."""
    lease = timedelta(seconds=settings.post_import_lease_seconds)
    async with session_scope(sessionmaker) as session:
        token = await repo.claim(session, import_id, datetime.now(UTC), lease)
    handled = 0
    while token is not None:
        async with session_scope(sessionmaker) as session:
            row = await repo.held(session, import_id, token)
            if row is None:  # the lease lapsed and another worker took over
                log.warning("post import %s: lease lost after %d lines", import_id, handled)
                return handled
            principal = Principal(row.api_key_id, row.organization_id, Role.EDITOR)
            chunk = await repo.unhandled(session, import_id, settings.post_import_chunk_size)
            for line in chunk:
                await _one(session, http, settings, principal, row, line)
            handled += len(chunk)
            row.done += len(chunk)
            now = datetime.now(UTC)
            if len(chunk) < settings.post_import_chunk_size:
                row.finished_at, row.lease_until, token = now, None, None
            else:
                row.lease_until = token = now + lease
    return handled


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    settings: Settings,
    limit: int = 10,
) -> int:
    """Imports nobody is handling (never started, or their worker died): handled here."""
    async with sessionmaker() as session:
        ids = await repo.claimable(session, datetime.now(UTC), limit)
    total = 0
    for import_id in ids:
        total += await process(sessionmaker, http, settings, import_id)
    return total
