"""A provider's requests are built from its `Endpoint` (the client's headers and timeout
merged once): the same requests `AsyncClient.build_request` makes, without the client's
cookies."""

import httpx

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
