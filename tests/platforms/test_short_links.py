"""A short link that leads nowhere is the caller's mistake (422), on the first hop as on the
others; drill 8 (tests/drills/test_edge_faults.py) holds 25 hanging ones against a running
API."""

import asyncio
import time
import uuid
from collections import Counter

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.domain.enums import Platform
from app.main import create_app
from app.platforms.shortlinks import Resolver, ShortLinkUnavailable
from app.platforms.urls import ShortLink
from app.repositories import api_keys
from app.settings import Settings
from tests import factories as f
from tests.short_link_host import ShortLinkHost, eventually

SM = async_sessionmaker[AsyncSession]


def _link(code: str) -> ShortLink:
    return ShortLink(Platform.TIKTOK, f"https://vm.tiktok.com/{code}/")


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


async def _resolve_quietly(resolver: Resolver, link: ShortLink, org: uuid.UUID) -> object:
    try:
        return await resolver.resolve(link, org)
    except ShortLinkUnavailable as exc:
        return exc


async def test_one_organizations_hanging_links_leave_a_slot_for_another() -> None:
    """Issue 22, item 4: ten links of A hang at the platform; B's link, sent after them,
    resolves at once (not after A's budget runs out), and A never holds every slot."""
    a, b = uuid.uuid4(), uuid.uuid4()
    async with (
        ShortLinkHost() as host,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        host.redirects["OKB"] = "https://www.tiktok.com/@b_creator/video/7300000000000000001"
        resolver = Resolver(http, budget_seconds=5, max_hops=5, concurrency=3, via=host.url)
        hanging = [
            asyncio.create_task(_resolve_quietly(resolver, _link(f"HANG{i}"), a)) for i in range(10)
        ]
        await eventually(lambda: host.hanging >= 2, what="A's links at the host")
        await asyncio.sleep(0.2)  # A takes every slot it can
        started = time.monotonic()
        ref = await resolver.resolve(_link("OKB"), b)
        assert time.monotonic() - started < 1.0
        assert (ref.post_id, ref.handle) == ("7300000000000000001", "b_creator")
        assert (host.hanging, host.peak) == (2, 3)  # A: all but the slot kept for others
        host.release()
        assert all(isinstance(r, ShortLinkUnavailable) for r in await asyncio.gather(*hanging))
        assert resolver.slots.in_use == 0


async def test_waiting_organizations_are_served_in_turns() -> None:
    """A queued thirty links before C and D queued thirty each: as slots free up, they go
    to the three in turn, not to A first whenever A may take one."""
    orgs = {name: uuid.uuid4() for name in "ACD"}
    async with ShortLinkHost() as host, httpx.AsyncClient(trust_env=False) as http:
        for n, name in enumerate(orgs):
            for i in range(30):
                video = 7300000000000000000 + 100 * n + i
                host.redirects[f"{name}{i}"] = f"https://www.tiktok.com/@x/video/{video}"
        resolver = Resolver(http, budget_seconds=10, max_hops=5, concurrency=9, via=host.url)
        links = [(f"{name}{i}", org) for name, org in orgs.items() for i in range(30)]
        await asyncio.gather(*(resolver.resolve(_link(code), org) for code, org in links))
    # A's first links took every slot but the spare before C and D asked; from then on the
    # three take turns (C and D about 8 each of the first 30; A first whenever it may take a
    # slot would leave them 3).
    first = Counter(code[0] for code in host.served[:30])
    assert min(first["C"], first["D"]) >= 6, first


async def test_an_organizations_short_link_in_the_api_waits_for_no_other(
    settings: Settings, engine: AsyncEngine, committed: SM
) -> None:
    """Ten posts of organization A whose short links hang hold up B's post by nothing: B's
    link starts at once in the API process's one resolver and B gets its 201."""
    async with committed() as session:
        _, key_a = await api_keys.create_organization(session, "Hanging")
        _, key_b = await api_keys.create_organization(session, "Other")
        await session.commit()
    async with ShortLinkHost() as host:
        app = create_app(
            settings.model_copy(
                update={
                    "sandbox_port": host.port,
                    "sandbox_host": "127.0.0.1",
                    "shortlink_concurrency": 3,
                    "shortlink_budget_seconds": 5,
                }
            ),
            engine=engine,
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=transport,
                base_url="http://t",
                headers={"Authorization": f"Bearer {key_a}"},
            ) as a,
            httpx.AsyncClient(
                transport=transport,
                base_url="http://t",
                headers={"Authorization": f"Bearer {key_b}"},
            ) as b,
        ):
            sa, sb = await f.setup_campaign(a), await f.setup_campaign(b)
            host.redirects["OKB"] = "https://www.tiktok.com/@scout2015/video/7300000000000000002"
            posting = [
                asyncio.create_task(
                    a.post(
                        f"/v1/campaigns/{sa['campaign']['id']}/posts",
                        json={
                            "url": f"https://vm.tiktok.com/HANG{i}/",
                            "creator_id": sa["tiktok"]["id"],
                        },
                    )
                )
                for i in range(10)
            ]
            await eventually(lambda: host.hanging >= 2, what="A's links at the host")
            await asyncio.sleep(0.2)  # A takes every slot it can
            started = time.monotonic()
            made = await b.post(
                f"/v1/campaigns/{sb['campaign']['id']}/posts",
                json={"url": "https://vm.tiktok.com/OKB/", "creator_id": sb["tiktok"]["id"]},
            )
            assert made.status_code == 201, made.text
            assert time.monotonic() - started < 2.0
            assert made.json()["platform_post_id"] == "7300000000000000002"
            host.release()
            answers = await asyncio.gather(*posting)
            assert {r.json()["code"] for r in answers} == {"short_link_unavailable"}


async def test_a_background_chunk_gives_every_queued_link_its_whole_budget() -> None:
    """A bulk import's chunk starts all its links at once, more than the slots: each one's
    budget starts with its slot, so links that are merely queued are not lost as unavailable
    (someone waiting on an answer, in the API, keeps the budget from the call)."""
    org = uuid.uuid4()
    async with ShortLinkHost() as host, httpx.AsyncClient(trust_env=False) as http:
        host.delay_seconds = 0.3
        for i in range(6):
            host.redirects[f"Q{i}"] = f"https://www.tiktok.com/@q/video/{7300000000000000100 + i}"
        resolver = Resolver(http, budget_seconds=0.5, max_hops=5, concurrency=3, via=host.url)
        links = [_link(f"Q{i}") for i in range(6)]
        # Two slots for one organization (one is kept for others): three rounds of 0.3 s.
        patient = await asyncio.gather(*(resolver.background().resolve(x, org) for x in links))
        assert sorted(r.post_id for r in patient) == [
            str(7300000000000000100 + i) for i in range(6)
        ]
        hasty = await asyncio.gather(*(_resolve_quietly(resolver, x, org) for x in links))
        assert sum(isinstance(r, ShortLinkUnavailable) for r in hasty) >= 2
        assert resolver.slots.in_use == 0
