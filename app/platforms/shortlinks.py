"""Short links (vm.tiktok.com/X, tiktok.com/t/X, instagram.com/share/...) name no video until
their redirects are followed. We follow them ourselves, hop by hop, and only while every hop
stays on the platform's own hosts: a user-supplied URL must never make this service fetch
anything else (SSRF)."""

import httpx

from app.platforms.urls import PostRef, ShortLink, UrlError, parse_video_url, platform_of_host


class ShortLinkError(Exception):
    pass


async def resolve(
    http: httpx.AsyncClient, link: ShortLink, *, max_hops: int, hop_timeout: float
) -> PostRef:
    url = link.url
    for _ in range(max_hops):
        try:
            response = await http.get(url, follow_redirects=False, timeout=hop_timeout)
            location = response.headers.get("location")
            if not response.is_redirect or not location:
                raise ShortLinkError("the short link does not redirect to a video")
            target = response.url.join(location)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ShortLinkError(f"could not follow the short link: {exc!r}") from None
        off_platform = platform_of_host(target.host) != link.platform
        if target.scheme not in ("http", "https") or target.port is not None or off_platform:
            raise ShortLinkError(f"the short link leads off {link.platform} ({target.host})")
        try:
            ref = parse_video_url(str(target))
        except UrlError:
            ref = None  # an intermediate page on the platform: keep following
        if isinstance(ref, PostRef):
            return ref
        url = str(target)
    raise ShortLinkError(f"the short link took more than {max_hops} redirects")
