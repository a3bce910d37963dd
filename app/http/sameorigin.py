"""Same-origin only, for requests a cookie authorizes (the creator portal's sign-in and
sign-out): a page elsewhere must not be able to make a visitor's browser send them (a form
posted from another site would sign the visitor in as another creator, or out).

Browsers say where a request comes from. `Sec-Fetch-Site` (every current browser; no page
can set or change it) decides when present. Otherwise `Origin`, which browsers send on
every cross-origin POST: another host, or `null` (what a page with `Referrer-Policy:
no-referrer`, a sandboxed frame or a data: URL sends; the portal's own pages use
`same-origin`, so their requests carry their real origin). A request with neither is not
from a browser page (curl, a server) and a cookie of its own is all it can use, so it
passes."""

from urllib.parse import urlsplit

from starlette.requests import Request

_SAME = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark


def cross_origin(request: Request) -> bool:
    """Whether a browser sent this request on behalf of a page of another origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.lower() not in _SAME
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()
