"""Bulk paste: many URLs into one campaign, each line handled on its own through the same
post service as `POST .../posts` (every check applies), with an outcome per line.

Lines are handled in the worker, not in the request: 1,000 lines may each follow short links
(seconds per hop), far past what an HTTP request should wait. A chunk's short links are
followed first, all at once through the worker's one resolver (bounded and fair across
organizations), with no transaction open and the import's lease renewed meanwhile; then the
chunk is one short transaction, each line a savepoint in it, so one refused line never undoes
another, and a chunk's lines and the import's progress commit together. A killed worker loses
at most the chunk it was on: its lease lapses and the sweep hands the import to another
worker, which carries on from the first unhandled line."""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.db import session_scope
from app.domain import attention
from app.domain import campaigns as campaign_rules
from app.domain.enums import Role
from app.domain.errors import Conflict, DomainError, found
from app.models import PostImport, PostImportLine
from app.platforms.shortlinks import Resolver
from app.platforms.urls import PostRef
from app.repositories import campaigns
from app.repositories import post_imports as repo
from app.schemas.post_imports import ImportLineIn, ImportLineOut, PostImportOut
from app.schemas.posts import PostCreate
from app.services import posts
from app.settings import Settings

log = logging.getLogger(__name__)

ADDED = attention.IMPORT_ADDED
# The post service's refusal codes as a line's outcome; any other code is its own outcome.
OUTCOMES = {
    "post_exists": attention.IMPORT_ALREADY_TRACKED,
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


async def kick(arq: ArqRedis, import_id: uuid.UUID) -> None:
    """Start the worker on a new import now, once its request has committed (the API and
    the dashboard both). Best effort: the worker's sweep takes any import nobody is handling,
    so a lost job only delays it by a sweep interval."""
    try:
        await arq.enqueue_job(
            "process_post_import", str(import_id), _job_id=f"post-import:{import_id}"
        )
    except Exception as exc:
        log.warning("could not enqueue process_post_import: %r", exc)


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


@dataclass(frozen=True)
class _Ready:
    """A line with its video found (or the reason it cannot be), before any transaction."""

    line: int
    body: PostCreate | None  # None: the line is not a valid request
    ref: PostRef | DomainError | None


async def _prepare(
    resolver: Resolver, org: uuid.UUID, line: int, url: str, creator_id: uuid.UUID | None
) -> _Ready:
    try:
        body = PostCreate(url=url, creator_id=creator_id)
    except ValidationError:
        return _Ready(line, None, None)
    try:
        return _Ready(line, body, await posts.reference(body, resolver, org))
    except DomainError as exc:
        return _Ready(line, body, exc)


async def _one(
    session: AsyncSession,
    principal: Principal,
    row: PostImport,
    line: PostImportLine,
    ready: _Ready,
) -> None:
    """Handles one line, in a savepoint: whatever it comes to, only it is undone."""
    line.handled_at = datetime.now(UTC)
    if ready.body is None:
        line.outcome, line.detail = "invalid_url", "The URL is not valid."
        return
    campaign = await campaigns.get(session, row.organization_id, row.campaign_id)
    assert campaign is not None  # the import cascades with its campaign
    try:
        if isinstance(ready.ref, DomainError):
            raise ready.ref
        assert ready.ref is not None
        async with session.begin_nested():
            post = await posts.create(session, principal, campaign, ready.body, ready.ref)
    except DomainError as exc:
        line.outcome, line.detail = OUTCOMES.get(exc.code, exc.code), exc.detail
        if isinstance(exc, Conflict) and exc.code == "post_exists":
            line.post_id = exc.extra.get("existing_post_id")
        return
    except IntegrityError:
        # Another writer added the same video between the check and the insert.
        line.outcome, line.detail = (
            attention.IMPORT_ALREADY_TRACKED,
            "The organization already tracks it.",
        )
        return
    line.outcome, line.detail, line.post_id = ADDED, None, post.id


@dataclass
class _Lease:
    token: datetime
    lost: bool = False


@contextlib.asynccontextmanager
async def _renewing(
    sessionmaker: async_sessionmaker[AsyncSession],
    import_id: uuid.UUID,
    lease: _Lease,
    length: timedelta,
) -> AsyncIterator[None]:
    """Keeps the import's lease while the body runs (links that hang may take longer than a
    lease): renewed every third of its length, each renewal a transaction of its own."""
    done = asyncio.Event()

    async def renew() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), length.total_seconds() / 3)
            if done.is_set():
                return
            new_token = datetime.now(UTC) + length
            try:
                async with session_scope(sessionmaker) as session:
                    kept = await repo.renew(session, import_id, lease.token, new_token)
            except Exception as exc:  # a database blip: the next renewal tries again
                log.warning("post import %s: lease renewal failed: %r", import_id, exc)
                continue
            if not kept:
                lease.lost = True
                return
            lease.token = new_token

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        done.set()
        # Let a renewal under way finish, so the token kept is the one the database has.
        await asyncio.shield(task)


async def process(
    sessionmaker: async_sessionmaker[AsyncSession],
    resolver: Resolver,
    settings: Settings,
    import_id: uuid.UUID,
) -> int:
    """Handles the import's remaining lines if no other worker holds it; returns how many
    lines this call handled."""
    length = timedelta(seconds=settings.post_import_lease_seconds)
    async with session_scope(sessionmaker) as session:
        token = await repo.claim(session, import_id, datetime.now(UTC), length)
    patient = resolver.background()  # a chunk's links queue for slots: none times out there
    handled = 0
    while token is not None:
        # The chunk's lines, read in a transaction that ends at once...
        async with session_scope(sessionmaker) as session:
            row = await repo.held(session, import_id, token)
            if row is None:  # the lease lapsed and another worker took over
                log.warning("post import %s: lease lost after %d lines", import_id, handled)
                return handled
            org = row.organization_id
            todo = [
                (ln.line, ln.url, ln.creator_id)
                for ln in await repo.unhandled(session, import_id, settings.post_import_chunk_size)
            ]
        # ...their links followed with no transaction open, the lease kept meanwhile...
        lease = _Lease(token)
        async with _renewing(sessionmaker, import_id, lease, length):
            ready = {
                r.line: r for r in await asyncio.gather(*(_prepare(patient, org, *t) for t in todo))
            }
        # ...and the outcomes written in one short transaction.
        async with session_scope(sessionmaker) as session:
            row = None if lease.lost else await repo.held(session, import_id, lease.token)
            if row is None:
                log.warning("post import %s: lease lost after %d lines", import_id, handled)
                return handled
            principal = Principal(row.api_key_id, row.organization_id, Role.EDITOR)
            chunk = await repo.unhandled(session, import_id, settings.post_import_chunk_size)
            chunk = [ln for ln in chunk if ln.line in ready]
            for line in chunk:
                await _one(session, principal, row, line, ready[line.line])
            handled += len(chunk)
            row.done += len(chunk)
            now = datetime.now(UTC)
            if len(todo) < settings.post_import_chunk_size:
                row.finished_at, row.lease_until, token = now, None, None
            else:
                row.lease_until = token = now + length
    return handled


async def waiting(
    sessionmaker: async_sessionmaker[AsyncSession], limit: int = 10
) -> list[uuid.UUID]:
    """Imports nobody is handling (never started, or their worker died)."""
    async with sessionmaker() as session:
        return await repo.claimable(session, datetime.now(UTC), limit)
