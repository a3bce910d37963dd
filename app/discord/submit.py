"""/submit-post, after the deferral: create the post through the same service as the API
(every check applies), have it fetched at once, and put the outcome in place of Discord's
"thinking..." answer. Runs in the worker (the `discord_followup` job)."""

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import Principal
from app.db import session_scope
from app.discord import messages
from app.discord.api import DiscordApi
from app.discord.interactions import Submission
from app.domain.enums import Platform, Role
from app.domain.errors import DomainError
from app.models import Campaign, Post
from app.platforms.shortlinks import Resolver, resolver_for
from app.platforms.urls import PostRef
from app.repositories import creators, holds
from app.repositories import discord as repo
from app.schemas.posts import PostCreate
from app.services import posts
from app.settings import Settings

log = logging.getLogger(__name__)

Refresh = Callable[[Platform], Coroutine[Any, Any, object]]
_POLL_SECONDS = 0.25
# Sweeps started for a follow-up and still running when it answered: kept referenced so
# they finish (a task nobody holds may be garbage-collected mid-way).
_sweeps: set[asyncio.Task[object]] = set()


async def _campaign(
    session: AsyncSession, org: uuid.UUID, creator_id: uuid.UUID, option: str | None
) -> Campaign | str:
    """The campaign the video goes to, or the line that says why there is none. Left out,
    it is the creator's one active campaign."""
    if option:
        chosen = await repo.campaign_by_id_or_name(session, org, option)
        return messages.UNKNOWN_CAMPAIGN if chosen is None else chosen
    mine = await repo.active_campaigns_of(session, org, creator_id)
    if len(mine) == 1:
        return mine[0]
    return messages.NO_CAMPAIGN if not mine else messages.choose_campaign(len(mine))


async def _create(
    sessionmaker: async_sessionmaker[AsyncSession], resolver: Resolver, sub: Submission
) -> tuple[Post, str] | str:
    """The new post and its campaign's name, or the line that says why not. A short link is
    followed between two transactions, never inside one (it may take seconds)."""
    checked = await _check(sessionmaker, sub)
    if isinstance(checked, str):
        return checked
    body, campaign_id = checked
    ref: PostRef | DomainError
    try:
        ref = await posts.reference(body, resolver, sub.organization_id)
    except DomainError as exc:
        ref = exc
    return await _add(sessionmaker, sub, body, campaign_id, ref)


async def _check(
    sessionmaker: async_sessionmaker[AsyncSession], sub: Submission
) -> tuple[PostCreate, uuid.UUID] | str:
    """The request and its campaign, once the submitter is known, or the line that says
    why not."""
    org = sub.organization_id
    async with session_scope(sessionmaker) as session:
        integration = await repo.integration(session, org)
        if integration is None or integration.application_id != sub.application_id:
            return messages.NOT_CONNECTED
        creator_id = await repo.linked_creator(session, org, sub.discord_user_id)
        if creator_id is None:
            return messages.NOT_LINKED
        creator = await creators.get(session, org, creator_id)
        assert creator is not None  # links cascade with their creator
        campaign = await _campaign(session, org, creator_id, sub.campaign)
        if isinstance(campaign, str):
            return campaign
        try:
            return PostCreate(url=sub.url, creator_id=creator.id), campaign.id
        except ValidationError:
            return messages.INVALID_URL_TOO_LONG


async def _add(
    sessionmaker: async_sessionmaker[AsyncSession],
    sub: Submission,
    body: PostCreate,
    campaign_id: uuid.UUID,
    ref: PostRef | DomainError,
) -> tuple[Post, str] | str:
    org = sub.organization_id
    async with session_scope(sessionmaker) as session:
        # Read again: the integration or the campaign may have gone while the link resolved.
        integration = await repo.integration(session, org)
        campaign = await session.get(Campaign, campaign_id)
        if integration is None or integration.application_id != sub.application_id:
            return messages.NOT_CONNECTED
        if campaign is None or campaign.organization_id != org:
            return messages.UNKNOWN_CAMPAIGN
        # The integration's key is the actor: the post's events say the bot added it.
        principal = Principal(integration.api_key_id, org, Role.EDITOR)
        try:
            if isinstance(ref, DomainError):
                raise ref
            async with session.begin_nested():
                post = await posts.create(session, principal, campaign, body, ref)
        except DomainError as exc:
            return messages.refused(exc, campaign.name)
        except IntegrityError:
            # Another request added the same video between the service's check and insert.
            return messages.ALREADY_TRACKED
        return post, campaign.name


async def _first_fetch(
    sessionmaker: async_sessionmaker[AsyncSession],
    post_id: uuid.UUID,
    platform: Platform,
    refresh: Refresh,
    wait_seconds: float,
) -> int | None:
    """Runs the worker's sweep for the platform (the new post is due at once) and waits,
    at most `wait_seconds`, for the post's first fetch, which a sweep already running
    elsewhere may do instead. The post's views, or None if it was not fetched in time (the
    sweep goes on; the post is tracked either way)."""
    sweep: asyncio.Task[object] = asyncio.create_task(refresh(platform))
    _sweeps.add(sweep)
    sweep.add_done_callback(_sweeps.discard)
    deadline = asyncio.get_running_loop().time() + wait_seconds
    try:
        while True:
            async with sessionmaker() as session:
                post = await session.get(Post, post_id)
            if post is None:
                return None
            if post.last_fetch_at is not None:
                return post.views if post.last_refreshed_at is not None else None
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            await asyncio.wait({sweep}, timeout=min(_POLL_SECONDS, remaining))
    finally:
        if sweep.done() and not sweep.cancelled() and sweep.exception() is not None:
            log.warning("discord follow-up sweep failed: %r", sweep.exception())


async def follow_up(
    sessionmaker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    settings: Settings,
    sub: Submission,
    refresh: Refresh,
    resolver: Resolver | None = None,
) -> str:
    """Creates, fetches, and edits the deferred answer; returns the line it sent. `resolver`:
    the process's short-link resolver (one of its own on `http` if not given)."""
    api = DiscordApi(http, settings.discord_api_url, settings.discord_http_timeout_seconds)
    try:
        outcome = await _create(sessionmaker, resolver or resolver_for(http, settings), sub)
    except Exception:
        # Not left at "thinking..." for good: the creator hears that it failed.
        await api.edit_original(sub.application_id, sub.token, messages.FAILED)
        raise
    if isinstance(outcome, str):
        line = outcome
    else:
        post, campaign = outcome
        views = await _first_fetch(
            sessionmaker, post.id, post.platform, refresh, settings.discord_fetch_wait_seconds
        )
        # The first fetch may have put it on hold (someone else's video, published outside
        # the campaign's dates, ...): the creator hears that, and why, not just the views.
        async with sessionmaker() as session:
            held = (await holds.open_for(session, [post.id])).get(post.id, [])
        line = messages.added(campaign, views, [hold.code for hold in held])
    await api.edit_original(sub.application_id, sub.token, line)
    return line
