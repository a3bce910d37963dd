"""Build test data through the public API, the way a user would."""

from typing import Any

import httpx

from app.domain.enums import Platform
from app.platforms.sandbox import user_id


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def campaign(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Summer launch", **fields}
    return await ok(await client.post("/v1/campaigns", json=body), 201)


async def tier(
    client: httpx.AsyncClient,
    campaign_id: str,
    cpm: str = "4.50",
    cap: str | None = None,
    name: str = "Standard",
) -> dict[str, Any]:
    body = {"name": name, "cpm": cpm, "cap": cap}
    return await ok(await client.post(f"/v1/campaigns/{campaign_id}/cpm-tiers", json=body), 201)


async def creator(
    client: httpx.AsyncClient, handle: str = "scout2015", platform: str = "tiktok"
) -> dict[str, Any]:
    body = {"platform": platform, "handle": handle}
    return await ok(await client.post("/v1/creators", json=body), 201)


async def youtube_creator(
    client: httpx.AsyncClient, handle: str = "sandbox-shorts", channel_id: str | None = None
) -> dict[str, Any]:
    """A YouTube creator, identified by their channel id (the sandbox's, by default)."""
    body = {
        "platform": "youtube",
        "handle": handle,
        "platform_user_id": channel_id or user_id(Platform.YOUTUBE, handle),
    }
    return await ok(await client.post("/v1/creators", json=body), 201)


async def member(
    client: httpx.AsyncClient, campaign_id: str, creator_id: str, cpm_tier_id: str | None = None
) -> dict[str, Any]:
    body = {"creator_id": creator_id, "cpm_tier_id": cpm_tier_id}
    return await ok(await client.post(f"/v1/campaigns/{campaign_id}/members", json=body), 201)


async def post(client: httpx.AsyncClient, campaign_id: str, **body: Any) -> dict[str, Any]:
    return await ok(await client.post(f"/v1/campaigns/{campaign_id}/posts", json=body), 201)


async def setup_campaign(
    client: httpx.AsyncClient, *, with_default_tier: bool = True
) -> dict[str, Any]:
    """A campaign with one tier, a TikTok and an Instagram creator, both members."""
    c = await campaign(client)
    t = await tier(client, c["id"])
    tiktok = await creator(client, "scout2015", "tiktok")
    insta = await creator(client, "natgeo", "instagram")
    default = t["id"] if with_default_tier else None
    await member(client, c["id"], tiktok["id"], default)
    await member(client, c["id"], insta["id"], default)
    return {"campaign": c, "tier": t, "tiktok": tiktok, "instagram": insta}
