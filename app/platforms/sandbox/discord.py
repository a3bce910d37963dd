"""A fake Discord API, served by the sandbox under /discord/api/v10: it takes the two calls
the bot makes (registering commands, editing an interaction's deferred answer) in Discord's
shapes and records them, so `make run` can show the flow and tests can read what the bot
said. Read them back at GET /__sandbox/discord (?application_id=&token=), clear them with
DELETE. Bot tokens are never recorded; registering checks them for presence only.

GET /applications/@me answers which application a bot token belongs to, as Discord does
(connecting in live mode asks it). A real bot token's first segment is the base64 of the
bot's user id, which is its application's id; the fake reads it the same way, so
`bot_token_for(application_id)` makes a token it accepts, and anything else is a 401."""

import base64
import binascii
import itertools
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

PREFIX = "/discord/api/v10"
_ids = itertools.count(1_100_000_000_000_000_000)


def _snowflake() -> str:
    return str(next(_ids))


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message, "code": code}, status_code=status)


def bot_token_for(application_id: str) -> str:
    """A bot token the fake Discord says belongs to `application_id`."""
    head = base64.b64encode(application_id.encode()).decode().rstrip("=")
    return f"{head}.GzQ4bw.sandbox-bot-token-signature"


def application_of(bot_token: str) -> str | None:
    head, dot, _ = bot_token.partition(".")
    if not dot:
        return None
    try:
        application_id = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return application_id if application_id.isdigit() else None


class FakeDiscord:
    def __init__(self) -> None:
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.edits: list[dict[str, Any]] = []

    async def put_commands(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bot ") or len(auth) <= len("Bot "):
            return _error(401, 0, "401: Unauthorized")
        application_id = request.path_params["application_id"]
        body = await request.json()
        if not isinstance(body, list) or not all(isinstance(c, dict) for c in body):
            return _error(400, 50035, "Invalid Form Body")
        registered = [
            {**command, "id": _snowflake(), "application_id": application_id, "version": "1"}
            for command in body
        ]
        self.commands[application_id] = registered
        return JSONResponse(registered)

    async def me(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bot ") if auth.startswith("Bot ") else ""
        application_id = application_of(token)
        if application_id is None:
            return _error(401, 0, "401: Unauthorized")
        return JSONResponse(
            {
                "id": application_id,
                "name": "Sandbox application",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "",
                "flags": 0,
            }
        )

    async def edit_original(self, request: Request) -> Response:
        application_id = request.path_params["application_id"]
        token = request.path_params["token"]
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, 50035, "Invalid Form Body")
        edit = {
            "application_id": application_id,
            "token": token,
            "content": body.get("content"),
            "at": datetime.now(UTC).isoformat(),
        }
        self.edits.append(edit)
        return JSONResponse(
            {
                "id": _snowflake(),
                "type": 20,
                "content": body.get("content"),
                "flags": 64,
                "webhook_id": application_id,
            }
        )

    async def recorded(self, request: Request) -> Response:
        application_id = request.query_params.get("application_id")
        token = request.query_params.get("token")
        edits = [
            e
            for e in self.edits
            if (application_id is None or e["application_id"] == application_id)
            and (token is None or e["token"] == token)
        ]
        commands = {
            app: names
            for app, names in self.commands.items()
            if application_id is None or app == application_id
        }
        return JSONResponse({"commands": commands, "edits": edits})

    async def clear(self, request: Request) -> Response:
        self.commands.clear()
        self.edits.clear()
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                f"{PREFIX}/applications/{{application_id}}/commands",
                self.put_commands,
                methods=["PUT"],
            ),
            Route(f"{PREFIX}/applications/@me", self.me, methods=["GET"]),
            Route(f"{PREFIX}/oauth2/applications/@me", self.me, methods=["GET"]),
            Route(
                f"{PREFIX}/webhooks/{{application_id}}/{{token}}/messages/@original",
                self.edit_original,
                methods=["PATCH"],
            ),
            Route("/__sandbox/discord", self.recorded),
            Route("/__sandbox/discord", self.clear, methods=["DELETE"]),
        ]
