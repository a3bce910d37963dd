"""A short link that leads nowhere is the caller's mistake (422), on the first hop as on the
others; drill 8 (tests/drills/test_edge_faults.py) holds 25 hanging ones against a running
API."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import factories as f

SM = async_sessionmaker[AsyncSession]


async def test_links_that_lead_nowhere_are_the_callers_422(client: httpx.AsyncClient) -> None:
    s = await f.setup_campaign(client)
    url = f"/v1/campaigns/{s['campaign']['id']}/posts"
    for link in (
        "http://vm.tiktok.com:81/ZMabc123/",  # a port on the first hop
        "https://vm.tiktok.com/EVIL/",  # leads off the platform
        "https://vm.tiktok.com/LOOP/",  # redirects to itself
    ):
        refused = await client.post(url, json={"url": link, "creator_id": s["tiktok"]["id"]})
        assert (refused.status_code, refused.json()["code"]) == (422, "short_link_invalid"), link
        assert "Error" not in refused.json()["detail"]
