"""The Discord integration (admin) and the interactions endpoint Discord calls. The latter
is not behind API keys: each request is authenticated by its Ed25519 signature, checked
against the public key of the application it names."""

import dataclasses
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from app.deps import Admin, AppSettings, Session, Viewer
from app.discord import integrations as discord_integrations
from app.discord import interactions, signature
from app.domain.errors import found
from app.errors import PROBLEM_JSON, PROBLEM_RESPONSES, ApiError, Problem
from app.repositories import discord as repo
from app.schemas.discord import (
    DiscordCommandsRegistered,
    DiscordConnect,
    DiscordIntegrationOut,
)

router = APIRouter(tags=["discord"], responses=PROBLEM_RESPONSES)
log = logging.getLogger(__name__)


@router.put("/v1/integrations/discord")
async def discord_integration_put(
    body: DiscordConnect, request: Request, session: Session, who: Admin, settings: AppSettings
) -> DiscordIntegrationOut:
    """Connect the organization's Discord application, or replace its settings. In live
    mode Discord is asked first whose the bot token is: it must be `application_id`'s (422
    `discord_bot_token_invalid` or `discord_application_mismatch`, nothing stored). Then set
    the application's Interactions Endpoint URL to `/discord/interactions` on this server
    and run `python -m app.cli discord register --org ID`."""
    given = discord_integrations.Connection(body.application_id, body.public_key, body.bot_token)
    row = await discord_integrations.connect(
        session, settings, who.organization_id, given, request.app.state.http
    )
    return DiscordIntegrationOut.model_validate(row)


@router.get("/v1/integrations/discord")
async def discord_integration_get(session: Session, who: Viewer) -> DiscordIntegrationOut:
    row = found(await repo.integration(session, who.organization_id), "discord_integration")
    return DiscordIntegrationOut.model_validate(row)


@router.delete("/v1/integrations/discord", status_code=status.HTTP_204_NO_CONTENT)
async def discord_integration_delete(session: Session, who: Admin) -> Response:
    """Disconnect: the token is forgotten and every Discord user is unlinked."""
    await discord_integrations.disconnect(session, who.organization_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/integrations/discord/commands")
async def discord_commands_register(
    request: Request, session: Session, who: Admin, settings: AppSettings
) -> DiscordCommandsRegistered:
    """Registers the bot's commands (`/link`, `/submit-post`, `/my-posts`) with the connected
    application, as `python -m app.cli discord register` does: a bulk overwrite, so doing it
    again is harmless. 404 `discord_integration_not_found` before connecting; 502
    `discord_unavailable` when Discord does not take them (retry)."""
    names = await discord_integrations.register_commands(
        session, request.app.state.http, settings, who.organization_id
    )
    return DiscordCommandsRegistered(registered=names)


# Every refusal is this one answer, whatever the reason (no application named, one nobody
# connected, a missing, wrong or stale signature): an outsider learns nothing, not even
# which application ids are connected here.
_REFUSED = "The request is not an interaction signed by a connected Discord application."
# Checked when the named application is nobody's, so that refusal takes as long as a bad
# signature's (a public key no one holds the private half of).
_NOBODY_S_KEY = "d" * 64


def _unauthorized() -> ApiError:
    return ApiError(401, "invalid_signature", _REFUSED)


@router.post(
    "/discord/interactions",
    responses={
        401: {
            "description": "Not an interaction signed by a connected application (one answer "
            "for every reason)."
        },
        413: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "The body is larger than `DISCORD_MAX_BODY_BYTES`.",
        },
        429: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "Over the client address's budget (`DISCORD_REQUESTS_PER_SECOND`, "
            "`DISCORD_REQUEST_BURST`); retry after `Retry-After` seconds.",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def discord_interactions(
    request: Request, session: Session, settings: AppSettings
) -> JSONResponse:
    """Discord's HTTP interactions: PING, the `/link`, `/submit-post` and `/my-posts`
    commands, and the campaign option's autocomplete. Signed by Discord
    (`X-Signature-Ed25519` over `X-Signature-Timestamp` + the body)."""
    # The raw bytes, before any parsing: the signature is over them exactly as sent.
    body = await request.body()
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not payload.get("application_id"):
        raise _unauthorized()
    integration = await repo.integration_by_application(session, str(payload["application_id"]))
    signed = signature.verify(
        _NOBODY_S_KEY if integration is None else integration.public_key,
        request.headers.get("X-Signature-Ed25519"),
        request.headers.get("X-Signature-Timestamp"),
        body,
        now=time.time(),
        tolerance_seconds=settings.discord_timestamp_tolerance_seconds,
    )
    if integration is None or not signed:
        raise _unauthorized()

    async def enqueue(sub: interactions.Submission) -> bool:
        # Queued before answering, under the interaction's id: Discord's retry of the same
        # interaction queues nothing twice. If Redis is down, the creator is told at once
        # rather than left with "thinking..." for good.
        try:
            await request.app.state.arq.enqueue_job(
                "discord_followup",
                dataclasses.asdict(sub),
                _job_id=f"discord-followup:{sub.interaction_id}",
            )
        except Exception as exc:
            log.warning("could not queue a discord follow-up: %r", exc)
            return False
        return True

    answer = await interactions.handle(
        session, settings, request.app.state.redis, integration, payload, enqueue
    )
    return JSONResponse(answer)
