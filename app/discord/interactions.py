"""What each interaction answers. Every reply is ephemeral. /submit-post does its work in
the worker (creating the post may follow short links and its first fetch waits for the
provider's pace, well past Discord's 3 s), so here it is only queued and deferred."""

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.discord import commands
from app.discord.messages import NOT_LINKED, my_posts
from app.domain.enums import PLATFORM_NAMES
from app.models import DiscordIntegration
from app.repositories import creators
from app.repositories import discord as repo
from app.services import access_codes
from app.settings import Settings

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]
MY_POSTS_LIMIT = 10
_PLATFORM_NAMES = PLATFORM_NAMES


@dataclass(frozen=True)
class Submission:
    """A /submit-post for the worker: everything the follow-up needs, nothing secret but
    the interaction token (valid 15 minutes, only for this interaction's answer)."""

    organization_id: uuid.UUID
    application_id: str
    interaction_id: str
    token: str
    discord_user_id: str
    url: str
    campaign: str | None


Enqueue = Callable[[Submission], Awaitable[bool]]


def _options(data: JsonObject) -> dict[str, JsonObject]:
    options = data.get("options") or []
    return {str(o.get("name")): o for o in options if isinstance(o, dict)}


def _value(data: JsonObject, name: str) -> str | None:
    option = _options(data).get(name)
    value = None if option is None else option.get("value")
    return None if value is None else str(value)


def user_id(payload: JsonObject) -> str | None:
    """The invoking user: `member.user` in a server, `user` in a DM."""
    member = payload.get("member")
    user = member.get("user") if isinstance(member, dict) else payload.get("user")
    if not isinstance(user, dict) or user.get("id") is None:
        return None
    return str(user["id"])


async def handle(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    integration: DiscordIntegration,
    payload: JsonObject,
    enqueue: Enqueue,
) -> JsonObject:
    kind = payload.get("type")
    if kind == commands.PING:
        return {"type": commands.PONG}
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    assert isinstance(data, dict)
    who = user_id(payload)
    org = integration.organization_id
    if who is None:
        return commands.message("Discord did not say who you are; try again.")
    name = data.get("name")
    if kind == commands.AUTOCOMPLETE:
        return await _autocomplete(session, org, who, data)
    if kind != commands.APPLICATION_COMMAND:
        return commands.message("This interaction is not supported.")
    if name == "link":
        return await _link(session, settings, redis, org, who, _value(data, "code") or "")
    if name == "my-posts":
        return await _my_posts(session, org, who)
    if name == "submit-post":
        submission = Submission(
            organization_id=org,
            application_id=integration.application_id,
            interaction_id=str(payload.get("id")),
            token=str(payload.get("token")),
            discord_user_id=who,
            url=(_value(data, "url") or "").strip(),
            campaign=_value(data, "campaign"),
        )
        if not await enqueue(submission):
            return commands.message("The bot cannot take submissions right now; try again.")
        return commands.deferred()
    return commands.message(f"Unknown command {name!r}.")


async def _link(
    session: AsyncSession,
    settings: Settings,
    redis: Redis,
    org: uuid.UUID,
    who: str,
    code: str,
) -> JsonObject:
    attempts = access_codes.CodeAttempts(
        redis, settings.discord_link_attempts_per_minute, settings.discord_link_attempts_burst
    )
    wait = await attempts.retry_after(f"discord:{who}", code)
    if wait is not None:
        return commands.message(f"Too many attempts; try again in {wait} s.")
    creator = await access_codes.creator_for(session, code)
    # Another organization's code is no code here: the same answer, so nothing leaks.
    if creator is None or creator.organization_id != org:
        return commands.message(
            "That access code is not valid. Check it with the brand (codes are 16 characters)."
        )
    await repo.link(session, org, who, creator.id)
    return commands.message(
        f"Linked: you are @{creator.handle} on {_PLATFORM_NAMES[creator.platform]}. "
        "Submit your videos with /submit-post."
    )


async def _my_posts(session: AsyncSession, org: uuid.UUID, who: str) -> JsonObject:
    creator_id = await repo.linked_creator(session, org, who)
    if creator_id is None:
        return commands.message(NOT_LINKED)
    creator = await creators.get(session, org, creator_id)
    assert creator is not None  # links cascade with their creator
    rows = await repo.recent_posts(session, org, creator_id, MY_POSTS_LIMIT)
    return commands.message(my_posts(creator.handle, rows))


async def _autocomplete(
    session: AsyncSession, org: uuid.UUID, who: str, data: JsonObject
) -> JsonObject:
    focused = next((o for o in _options(data).values() if o.get("focused")), None)
    if data.get("name") != "submit-post" or focused is None or focused.get("name") != "campaign":
        return commands.choices([])
    creator_id = await repo.linked_creator(session, org, who)
    if creator_id is None:
        return commands.choices([])
    typed = str(focused.get("value") or "").strip()
    campaigns = await repo.active_campaigns_of(session, org, creator_id, typed)
    return commands.choices([(c.name, str(c.id)) for c in campaigns])
