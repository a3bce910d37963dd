"""Magic ids: the one table that says which ids make the sandbox misbehave, and how.

TikTok: a 19-digit id `9999` + 12-digit variant + 3-digit code, e.g. `9999000000000000404`.
Real ids start with 6 or 7, so a pasted real link is never magic. The variant lets tests
make as many distinct ids with the same behaviour as they need.

Instagram: a shortcode `<PREFIX>_<variant>`, e.g. `DELETED_0`, `CAROUSEL_12`.
"""

from enum import StrEnum

from app.domain.enums import Platform


class Magic(StrEnum):
    DELETED = "deleted"  # primary: "Url parsing is failed"; backup: 10204; Instagram: null media
    PRIVATE_POST = "private_post"  # primary: "Url parsing is failed"; backup: 10216; IG: null
    PRIVATE_ACCOUNT = "private_account"  # primary: "Url parsing is failed"; backup: 10222
    CAROUSEL = "carousel"  # Instagram: XDTGraphSidecar reporting no views
    PHOTO = "photo"  # Instagram: XDTGraphImage (no view count)
    LEGACY_SHAPE = "legacy_shape"  # Instagram: `shortcode_media`, `GraphVideo`, older edges
    SLOW = "slow"  # every provider sleeps `slow_seconds` before answering
    SERVER_ERROR = "server_error"  # every provider answers HTTP 500 (both TikTok APIs fail)
    RATE_LIMITED = "rate_limited"  # every provider answers 429 with Retry-After
    FREE_API_LIMIT = "free_api_limit"  # primary: tikwm "Free Api Limit"; backup answers
    LOGIN_REQUIRED = "login_required"  # Instagram: 401 with require_login
    MALFORMED = "malformed"  # every provider answers 200 with a body that is not the shape
    PRIMARY_DOWN = "primary_down"  # primary answers 503; backup answers
    FLAKY = "flaky"  # the first `flaky_failures` requests per provider get 502, then answers


TIKTOK_CODES: dict[str, Magic] = {
    "404": Magic.DELETED,
    "216": Magic.PRIVATE_POST,
    "222": Magic.PRIVATE_ACCOUNT,
    "408": Magic.SLOW,
    "500": Magic.SERVER_ERROR,
    "429": Magic.RATE_LIMITED,
    "430": Magic.FREE_API_LIMIT,
    "422": Magic.MALFORMED,
    "503": Magic.PRIMARY_DOWN,
    "502": Magic.FLAKY,
}
INSTAGRAM_PREFIXES: dict[str, Magic] = {
    "DELETED": Magic.DELETED,
    "PRIVATE": Magic.PRIVATE_POST,
    "CAROUSEL": Magic.CAROUSEL,
    "PHOTO": Magic.PHOTO,
    "LEGACY": Magic.LEGACY_SHAPE,
    "SLOW": Magic.SLOW,
    "ERROR500": Magic.SERVER_ERROR,
    "RATELIMIT": Magic.RATE_LIMITED,
    "LOGIN": Magic.LOGIN_REQUIRED,
    "MALFORMED": Magic.MALFORMED,
    "FLAKY": Magic.FLAKY,
}
_TIKTOK_PREFIX = "9999"

# API key values that make the gateways refuse: 401 (invalid key) and 403 (not subscribed).
BAD_KEY = "bad-key"
UNSUBSCRIBED_KEY = "unsubscribed-key"


def tiktok_id(magic: Magic, variant: int = 0) -> str:
    codes = {behaviour: code for code, behaviour in TIKTOK_CODES.items()}
    if magic not in codes:
        raise ValueError(f"no TikTok magic id for {magic}")
    if not 0 <= variant < 10**12:
        raise ValueError("variant must have at most 12 digits")
    return f"{_TIKTOK_PREFIX}{variant:012d}{codes[magic]}"


def instagram_shortcode(magic: Magic, variant: int = 0) -> str:
    prefixes = {behaviour: prefix for prefix, behaviour in INSTAGRAM_PREFIXES.items()}
    if magic not in prefixes:
        raise ValueError(f"no Instagram magic shortcode for {magic}")
    return f"{prefixes[magic]}_{variant}"


def magic_of(platform: Platform, post_id: str) -> Magic | None:
    if platform is Platform.TIKTOK:
        if len(post_id) == 19 and post_id.startswith(_TIKTOK_PREFIX):
            return TIKTOK_CODES.get(post_id[-3:])
        return None
    prefix, _, _ = post_id.partition("_")
    return INSTAGRAM_PREFIXES.get(prefix) if prefix != post_id else None
