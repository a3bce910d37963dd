"""`Location` on every 201: the URL of what the create made, filled in at the edge from the
route's path parameters and the answer's fields, so create handlers need no code for it.

A new create operation adds one line to LOCATIONS (a test fails until it does)."""

import json
import logging
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# Operation id -> the created resource's URL template.
LOCATIONS = {
    "campaigns_create": "/v1/campaigns/{id}",
    "cpm_tiers_create": "/v1/campaigns/{campaign_id}/cpm-tiers/{id}",
    "creators_create": "/v1/creators/{id}",
    "members_create": "/v1/campaigns/{campaign_id}/members/{creator_id}",
    "posts_create": "/v1/posts/{id}",
    "api_keys_create": "/v1/api-keys/{id}",
    "webhook_endpoints_create": "/v1/webhook-endpoints/{id}",
    "payouts_create": "/v1/payouts/{id}",
    "users_create": "/v1/users/{id}",
    "watched_accounts_create": "/v1/campaigns/{campaign_id}/watched-accounts/{id}",
}


def location(template: str, path_params: dict[str, Any], answer: object) -> str | None:
    if not isinstance(answer, dict):
        return None
    values = {**{k: str(v) for k, v in path_params.items()}, **answer}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return None


class LocationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def add_location(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                template = LOCATIONS.get(getattr(scope.get("route"), "name", ""))
                if message["status"] != 201 or template is None:
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            template = LOCATIONS[scope["route"].name]
            try:
                answer = json.loads(body)
            except ValueError:
                answer = None
            url = location(template, scope.get("path_params", {}), answer)
            if url is None:
                log.warning("no Location for %s: the answer lacks its fields", scope["route"].name)
            else:
                MutableHeaders(scope=start)["Location"] = url
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, add_location)
