"""The few Discord API calls the bot makes, through an injected httpx client (tests and the
sandbox point it at the fake Discord). The bot token goes only into the Authorization header
of the registration call; it is never logged, and errors name the status alone."""

from typing import Any

import httpx

JsonObject = dict[str, Any]


class DiscordApiError(Exception):
    def __init__(self, what: str, status: int | None) -> None:
        super().__init__(f"Discord API {what} failed" + (f": HTTP {status}" if status else ""))
        self.status = status


class DiscordApi:
    def __init__(self, http: httpx.AsyncClient, base_url: str, timeout: float = 10.0) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    async def register_commands(
        self, application_id: str, bot_token: str, commands: list[JsonObject]
    ) -> list[JsonObject]:
        """Bulk overwrite of the application's global commands: the set becomes exactly
        `commands` (so running it again is harmless)."""
        response = await self._send(
            "register commands",
            "PUT",
            f"/applications/{application_id}/commands",
            commands,
            {"Authorization": f"Bot {bot_token}"},
        )
        answer: list[JsonObject] = response.json()
        return answer

    async def application_of(self, bot_token: str) -> str | None:
        """The id of the application the bot token belongs to (GET /applications/@me), or
        None when Discord refuses the token (401/403). Other failures raise."""
        try:
            response = await self._send(
                "read the application",
                "GET",
                "/applications/@me",
                None,
                {"Authorization": f"Bot {bot_token}"},
            )
        except DiscordApiError as exc:
            if exc.status in (401, 403):
                return None
            raise
        try:
            answer = response.json()
        except ValueError:
            raise DiscordApiError("read the application (not JSON)", None) from None
        if not isinstance(answer, dict) or answer.get("id") is None:
            raise DiscordApiError("read the application (no id)", None)
        return str(answer["id"])

    async def edit_original(self, application_id: str, token: str, content: str) -> None:
        """Replaces the deferred "thinking..." answer of an interaction. The interaction
        token authorizes it (valid 15 minutes); no bot token is needed."""
        await self._send(
            "edit the original response",
            "PATCH",
            f"/webhooks/{application_id}/{token}/messages/@original",
            {"content": content[:2000], "allowed_mentions": {"parse": []}},
            {},
        )

    async def _send(
        self, what: str, method: str, path: str, body: object, headers: dict[str, str]
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, self._base + path, json=body, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise DiscordApiError(f"{what} ({type(exc).__name__})", None) from None
        if response.status_code >= 300:
            raise DiscordApiError(what, response.status_code)
        return response
