"""A provider's answer is freed as soon as it is read. httpx's response and its stream refer
to each other, so an answer left so is garbage only the cyclic collector frees: thousands a
minute in the engine, and the collections that freed them were a tenth of its CPU."""

import gc

import httpx

from app.domain.enums import StatsSource
from app.platforms.http import Reply, send


async def test_an_answer_read_leaves_nothing_to_the_collector(
    collector_off: list[object],
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"views": 12}))
    async with httpx.AsyncClient(transport=transport) as http:
        for _ in range(2):  # the first answer warms the client's caches
            gc.collect()
            collector_off.clear()
            request = http.build_request("GET", "http://provider.test/v1/video?id=1")
            reply = await send(http, request, StatsSource.PRIMARY, lambda r: r)
            assert isinstance(reply, Reply)
            assert (reply.status, reply.body) == (200, b'{"views":12}')
            del request
            gc.collect()
        kept = [o for o in collector_off if isinstance(o, httpx.Response)]
        assert not kept, f"{len(kept)} answer(s) left to the collector"
