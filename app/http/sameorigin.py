"""Same-origin only, for requests a cookie authorizes (the creator portal's sign-in and
sign-out): a page elsewhere must not be able to make a visitor's browser send them (a form
posted from another site would sign the visitor in as another creator, or out).

Browsers say where a request comes from: `Origin` on every cross-origin POST (and on
same-origin ones in current browsers), `Sec-Fetch-Site` on all of them. A request with
neither is not from a browser page (curl, a server) and a cookie of its own is all it can
use, so it passes."""

from urllib.parse import urlsplit

from starlette.requests import Request

_SAME = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark


def cross_origin(request: Request) -> bool:
    """Whether a browser sent this request on behalf of a page of another origin."""
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":  # sandboxed frames, data: URLs, some redirects
            return True
        host = request.headers.get("host", "")
        return urlsplit(origin).netloc.lower() != host.lower()
    site = request.headers.get("sec-fetch-site")
    return site is not None and site.lower() not in _SAME
