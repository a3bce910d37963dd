"""A provider's requests are built from its `Endpoint` (the client's headers and timeout
merged once): the same requests `AsyncClient.build_request` makes, without the client's
cookies."""

from collections.abc import Callable

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.platforms.http import Endpoint


def _seen(request: httpx.Request) -> tuple[object, ...]:
    return (
        request.method,
        str(request.url),
        sorted(request.headers.multi_items()),
        request.read(),
        request.extensions,
    )


async def test_an_endpoint_asks_what_the_client_would_and_sends_no_cookie() -> None:
    async with httpx.AsyncClient(
        headers={"user-agent": "ViewLedger/test"}, timeout=httpx.Timeout(7.0)
    ) as http:
        http.cookies.set("session", "from-the-provider", domain="provider.test")
        api = Endpoint(http, "https://provider.test/api/", {"x-api-key": "k"})
        got = api.get("url=https%3A%2F%2Fx.test%2Fp%2F1%2F&n=2")
        built = http.build_request(
            "GET", "https://provider.test/api/?url=https%3A%2F%2Fx.test%2Fp%2F1%2F&n=2",
            headers={"x-api-key": "k"},
        )  # fmt: skip
        assert "cookie" in built.headers
        del built.headers["cookie"]
        assert _seen(got) == _seen(built)
        form = {"url": "https://www.tiktok.com/@a/video/1?x=1&y=2", "hd": "0"}
        posted = http.build_request(
            "POST", "https://provider.test/api/", data=form, headers={"x-api-key": "k"}
        )
        del posted.headers["cookie"]
        assert _seen(api.post_form(form)) == _seen(posted)
        assert str(api.get().url) == "https://provider.test/api/"


def _sent(build: Callable[[], httpx.URL]) -> object:
    try:
        url = build()
    except (httpx.InvalidURL, UnicodeEncodeError) as exc:
        return type(exc)
    # The parsed form too: the fast path sets it, and an httpx that parses differently shows.
    return str(url), url.query, url.params, url.raw_path, url._uri_reference


_BASE = "https://provider.test/v1/post?old=1"
_API = Endpoint(httpx.AsyncClient(), _BASE)
# Printable ASCII, which httpx leaves in a query as it is but for these, and what it refuses
# or encodes: controls, DEL, non-ASCII, a `%` that is no escape.
_ENCODED = [" ", '"', "#", "<", ">", "\x7f", "\x00", "\n", "\t", "é", "%", "%2", "%zz"]


@pytest.mark.parametrize("odd", _ENCODED)
def test_a_query_httpx_would_encode_or_refuse_goes_its_way(odd: str) -> None:
    query = f"url=https%3A%2F%2Fx.test%2Fp%2F1{odd}2%2F&n=2"
    expected = _sent(lambda: httpx.URL(_BASE).copy_with(query=query.encode("ascii")))
    assert _sent(lambda: _API.get(query).url) == expected


@settings(max_examples=300)
@given(
    query=st.lists(st.sampled_from([chr(c) for c in range(0x21, 0x7F)] + _ENCODED), min_size=1).map(
        "".join
    )
    | st.just("a" * 70_000)
)
def test_a_query_goes_out_as_httpx_would_send_it(query: str) -> None:
    # Endpoint.get sets an encoded query without parsing the URL again: any query goes out as
    # httpx's own parse has it, and what that parse refuses is refused.
    expected = _sent(lambda: httpx.URL(_BASE).copy_with(query=query.encode("ascii")))
    assert _sent(lambda: _API.get(query).url) == expected
