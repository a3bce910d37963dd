"""Connecting an organization's Discord application. The bot token is encrypted with the
webhook vault's Fernet key (from SECRET_KEY) and never returned; the public key is checked
to be an Ed25519 key, so a typo fails here rather than as every interaction's 401. In live
mode Discord is asked whose the bot token is before anything is stored: only who holds the
application's token can connect it (nobody can claim an application id they do not own)."""

import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import create_engine, create_sessionmaker, session_scope
from app.discord import signature
from app.discord.api import DiscordApi, DiscordApiError
from app.discord.commands import COMMANDS
from app.domain.enums import Role
from app.domain.errors import Conflict, InvalidInput, Unavailable, found
from app.models import DiscordIntegration
from app.repositories import api_keys
from app.repositories import discord as repo
from app.settings import ProviderMode, Settings
from app.webhooks import vault


@dataclass(frozen=True)
class Connection:
    application_id: str
    public_key: str
    bot_token: str


async def check_ownership(http: httpx.AsyncClient, settings: Settings, given: Connection) -> None:
    """The bot token must be one Discord accepts, and belong to `application_id`."""
    api = DiscordApi(http, settings.discord_api_url, settings.discord_http_timeout_seconds)
    try:
        owner = await api.application_of(given.bot_token)
    except DiscordApiError as exc:
        raise Unavailable(
            "discord_unavailable",
            f"Could not ask Discord whose bot token this is ({exc}); try again.",
        ) from None
    if owner is None:
        raise InvalidInput(
            "discord_bot_token_invalid",
            "Discord refused this bot token: copy it again from the application's Bot page.",
            "bot_token",
        )
    if owner != given.application_id:
        raise InvalidInput(
            "discord_application_mismatch",
            "The bot token belongs to another Discord application than application_id: "
            "connect the application whose bot token you hold.",
            "application_id",
        )


async def connect(
    session: AsyncSession,
    settings: Settings,
    org: uuid.UUID,
    given: Connection,
    http: httpx.AsyncClient,
) -> DiscordIntegration:
    if signature.load_public_key(given.public_key) is None:
        raise InvalidInput(
            "invalid_public_key",
            "public_key must be the application's Ed25519 public key: 64 hex digits.",
            "public_key",
        )
    if settings.provider_mode is ProviderMode.LIVE:
        # Before the lookup below too: without the token, nobody learns whether an
        # application id is connected elsewhere.
        await check_ownership(http, settings, given)
    taken = await repo.integration_by_application(session, given.application_id)
    if taken is not None and taken.organization_id != org:
        raise Conflict(
            "discord_application_taken",
            "Another organization has connected this Discord application.",
        )
    token = vault.encrypt(settings, given.bot_token)
    row = await repo.integration(session, org)
    if row is None:
        # The integration's own key: posts the bot adds are recorded as made by it. Its
        # plaintext is thrown away at once; nobody can call the API with it.
        key, _ = await api_keys.create(session, org, Role.EDITOR, "discord integration")
        row = DiscordIntegration(
            organization_id=org,
            application_id=given.application_id,
            public_key=given.public_key.lower(),
            bot_token_encrypted=token,
            api_key_id=key.id,
        )
        session.add(row)
    else:
        row.application_id = given.application_id
        row.public_key = given.public_key.lower()
        row.bot_token_encrypted = token
    await session.flush()
    await session.refresh(row)
    return row


async def disconnect(session: AsyncSession, org: uuid.UUID) -> None:
    """Forgets the application and its token, revokes its key, and unlinks every Discord
    user: a later connection (perhaps of another application) starts from nothing."""
    row = found(await repo.integration(session, org), "discord_integration")
    key_id = row.api_key_id
    await repo.unlink_all(session, org)
    await repo.delete_integration(session, row)
    await api_keys.revoke(session, org, key_id)


async def register_commands(
    session: AsyncSession, http: httpx.AsyncClient, settings: Settings, org: uuid.UUID
) -> list[str]:
    """Puts the command set on the Discord API (a bulk overwrite: doing it again is
    harmless); returns the registered names. 502 `discord_unavailable` when Discord does not
    take them."""
    row = found(await repo.integration(session, org), "discord_integration")
    api = DiscordApi(http, settings.discord_api_url, settings.discord_http_timeout_seconds)
    try:
        answer = await api.register_commands(
            row.application_id, vault.decrypt(settings, row.bot_token_encrypted), COMMANDS
        )
    except DiscordApiError as exc:
        raise Unavailable(
            "discord_unavailable", f"Discord did not take the commands ({exc}); try again."
        ) from None
    return [str(command.get("name")) for command in answer]


async def register_discord(settings: Settings, org_id: uuid.UUID) -> list[str]:
    """`register_commands` on a database connection of its own: the operator's command
    (`python -m app.cli discord register`) and the demo both stand on this."""
    engine = create_engine(settings)
    try:
        async with (
            session_scope(create_sessionmaker(engine)) as session,
            httpx.AsyncClient() as http,
        ):
            return await register_commands(session, http, settings, org_id)
    finally:
        await engine.dispose()
