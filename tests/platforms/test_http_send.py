"""A provider's answer is freed as soon as it is read. httpx's response and its stream refer
to each other, so an answer left so is garbage only the cyclic collector frees: thousands a
minute in the engine, and the collections that freed them were a tenth of its CPU."""

import asyncio
import contextlib
import gc

import httpx

from app.domain.enums import StatsSource
from app.platforms.contract import FetchError
from app.platforms.http import Reply, noting_answers, send


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


async def test_answers_sent_together_are_all_noted_before_any_is_parsed() -> None:
    """Issue 24 item 2: a batch's pause is timed from its last answer as it arrived, not
    from when the engine had parsed the answers before it, one after another. A request
    that got no answer is noted too (a failure is an answer)."""
    release = asyncio.Event()

    async def provider(request: httpx.Request) -> httpx.Response:
        await release.wait()
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"views": 12})

    log: list[str] = []

    def parse(reply: Reply) -> int:
        log.append("parsed")
        return reply.status

    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:

        async def one(path: str) -> object:
            with noting_answers(lambda: log.append("noted")):
                request = http.build_request("GET", f"http://provider.test{path}")
                return await send(http, request, StatsSource.PRIMARY, parse)

        asked = [asyncio.create_task(one(p)) for p in ("/a", "/b", "/c", "/down")]
        await asyncio.sleep(0.01)  # all four in flight
        release.set()
        results = await asyncio.gather(*asked)
    assert results[:3] == [200, 200, 200]
    assert isinstance(results[3], FetchError)
    assert log == ["noted"] * 4 + ["parsed"] * 3


async def test_a_request_cut_off_is_noted_as_it_ends() -> None:
    """The retrier's deadline for an attempt cancels a request that got no answer: its batch's
    pause is timed from then, not from an earlier answer of the same batch."""

    async def provider(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    noted: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:
        request = http.build_request("GET", "http://provider.test/a")
        with noting_answers(lambda: noted.append("noted")), contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.05):
                await send(http, request, StatsSource.PRIMARY, lambda reply: reply)
    assert noted == ["noted"]
