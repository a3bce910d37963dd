"""A post's events name the person who acted, not only the key row they act through (issue
25, step 5: "post events record the acting user as well as the key")."""

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Post
from tests import factories as f
from tests.api.test_permissions import TIKTOK, as_member


async def test_events_and_evidence_name_the_user_who_acted(
    app: Any, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    s = await f.setup_campaign(client)
    a = s["campaign"]["id"]
    by_user = await f.post(client, a, url=TIKTOK.format("73"))
    by_key = await f.post(client, a, url=TIKTOK.format("75"))
    await session.execute(
        update(Post)
        .where(Post.id.in_([uuid.UUID(by_user["id"]), uuid.UUID(by_key["id"])]))
        .values(status="finalized", locked_views=2000, earnings=Decimal("9.00"))
    )
    await session.commit()
    async with as_member(app, client, a, "campaign_editor") as member:
        me = await f.ok(await member.get("/v1/session"))
        await f.ok(await member.post(f"/v1/posts/{by_user['id']}/mark-paid", json=None))
    await f.ok(await client.post(f"/v1/posts/{by_key['id']}/mark-paid", json=None))

    events = (await f.ok(await client.get(f"/v1/posts/{by_user['id']}/events")))["data"]
    paid = [e for e in events if e["to_status"] == "paid"]
    assert len(paid) == 1
    person = me["user"]
    assert paid[0]["actor_user"] == {
        "id": person["id"],
        "name": person["name"],
        "email": person["email"],
    }
    assert paid[0]["actor_key_id"] is not None  # the key row the user acts through
    evidence = await f.ok(await client.get(f"/v1/posts/{by_user['id']}/evidence"))
    shown = [e for e in evidence["events"] if e["to_status"] == "paid"]
    assert shown[0]["actor_user"]["id"] == person["id"]

    # An API key's action (and the system's) names no user.
    events = (await f.ok(await client.get(f"/v1/posts/{by_key['id']}/events")))["data"]
    assert [e["actor_user"] for e in events] == [None] * len(events)
