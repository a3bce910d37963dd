"""Magic ids: the one table that says which ids make the sandbox misbehave, and how.

TikTok: a 19-digit id `9999` + 12-digit variant + 3-digit code, e.g. `9999000000000000404`.
Real ids start with 6 or 7, so a pasted real link is never magic. The variant lets tests
make as many distinct ids with the same behaviour as they need.

Instagram: a shortcode `<PREFIX>_<variant>`, e.g. `DELETED_0`, `CAROUSEL_12`.

YouTube: an 11-character video id `<PREFIX><variant, zero-padded>A`, e.g. `QUOTA00000A`,
`GONE000012A` (`youtube_id(Magic.X, variant)`); the final `A` keeps it canonical.

Some kinds read their variant: `PUBLISHED` encodes its publish time (`published_id`), and
`RENAMES` gives each variant its own account (`rename_handles`).
"""

from datetime import timedelta
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
    # primary: tikwm's daily "Free Api Limit: 10000 request/ 1 day."; backup answers
    QUOTA_EXHAUSTED = "quota_exhausted"
    WITHHELD = "withheld"  # primary: "Url parsing is failed"; backup: 10204 cross-border
    UNDER_REVIEW = "under_review"  # primary: "Url parsing is failed"; backup: 10204 reviewing
    # Answers name `OTHER_AUTHOR_HANDLE` (with its own stable user id), whatever the URL says.
    OTHER_AUTHOR = "other_author"
    # One account per variant (stable user id) whose handle changes RENAME_AFTER the anchor.
    RENAMES = "renames"
    # Published a chosen number of hours before the anchor (`published_id`).
    PUBLISHED = "published"
    # Integrity (issue 13), each published 1 day before the anchor. PURGED: grows, then from
    # `INTEGRITY_EVENT_AFTER` on reports 40% of it (the platform purged botted views).
    # SPIKE: holds at 2,000 views until then, 60,000 from then on. BOTTED: 50,000 views with
    # almost no likes and no comments.
    PURGED = "purged"
    SPIKE = "spike"
    BOTTED = "botted"
    # YouTube: a batch naming this id is answered 403 quotaExceeded / 400 keyInvalid, as a
    # key with a spent quota or a wrong key would be; likeCount left out (likes hidden).
    KEY_INVALID = "key_invalid"
    LIKES_HIDDEN = "likes_hidden"


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
    "431": Magic.QUOTA_EXHAUSTED,
    "451": Magic.WITHHELD,
    "423": Magic.UNDER_REVIEW,
    "601": Magic.OTHER_AUTHOR,
    "602": Magic.RENAMES,
    "603": Magic.PUBLISHED,
    "611": Magic.PURGED,
    "612": Magic.SPIKE,
    "613": Magic.BOTTED,
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
    # Short, so `<PREFIX>_<variant>` stays a 10-character shortcode (a 64-bit media id).
    "OTHER": Magic.OTHER_AUTHOR,
    "RENAME": Magic.RENAMES,
    "PUB": Magic.PUBLISHED,
    "PURGED": Magic.PURGED,
    "SPIKE": Magic.SPIKE,
    "BOTTED": Magic.BOTTED,
}
YOUTUBE_PREFIXES: dict[str, Magic] = {
    "GONE": Magic.DELETED,  # left out of the answer's items
    "PRIV": Magic.PRIVATE_POST,  # left out too: YouTube does not tell private from deleted
    "QUOTA": Magic.QUOTA_EXHAUSTED,  # the whole call: 403 quotaExceeded
    "BADKEY": Magic.KEY_INVALID,  # the whole call: 400 keyInvalid
    "NOLIKES": Magic.LIKES_HIDDEN,  # statistics without likeCount
    "SLOW": Magic.SLOW,
    "ERROR": Magic.SERVER_ERROR,
    "RATE": Magic.RATE_LIMITED,  # 403 rateLimitExceeded with Retry-After
    "MALF": Magic.MALFORMED,
    "FLAKY": Magic.FLAKY,
    "OTHER": Magic.OTHER_AUTHOR,
    "RENAME": Magic.RENAMES,
    "PUB": Magic.PUBLISHED,
    "PURGED": Magic.PURGED,
    "SPIKE": Magic.SPIKE,
    "BOTTED": Magic.BOTTED,
}
_YOUTUBE_ID_LENGTH = 11
# Magic kinds that answer like a normal video, with a chosen author or publish time. Their
# curve is always steady, so they pass 1,000 views within a week of being published.
SHAPED = frozenset(
    {
        Magic.OTHER_AUTHOR,
        Magic.RENAMES,
        Magic.PUBLISHED,
        Magic.PURGED,
        Magic.SPIKE,
        Magic.BOTTED,
    }
)

OTHER_AUTHOR_HANDLE = "dev.daily"
# OTHER_AUTHOR and RENAMES videos were published this long before the anchor.
SHAPED_PUBLISHED_BEFORE_ANCHOR = timedelta(days=1)
# RENAMES accounts report their new handle from this long after the anchor on.
RENAME_AFTER = timedelta(days=1)
# PURGED videos lose views, and SPIKE videos jump, this long after the anchor.
INTEGRITY_EVENT_AFTER = timedelta(days=1)
SPIKE_BEFORE, SPIKE_AFTER = 2_000, 60_000
PURGED_SHARE = 0.4
_PUBLISHED_SLOTS = 1000  # distinct ids per publish time
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


def youtube_id(magic: Magic, variant: int = 0) -> str:
    prefixes = {behaviour: prefix for prefix, behaviour in YOUTUBE_PREFIXES.items()}
    if magic not in prefixes:
        raise ValueError(f"no YouTube magic id for {magic}")
    prefix = prefixes[magic]
    width = _YOUTUBE_ID_LENGTH - len(prefix) - 1
    if not 0 <= variant < 10**width:
        raise ValueError(f"a YouTube {prefix} variant has at most {width} digits")
    return f"{prefix}{variant:0{width}d}A"


def _youtube_magic(post_id: str) -> tuple[Magic, int] | None:
    if len(post_id) != _YOUTUBE_ID_LENGTH or not post_id.endswith("A"):
        return None
    body = post_id[:-1]
    digits = body.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    magic = YOUTUBE_PREFIXES.get(body[: len(body) - len(digits)])
    if magic is None or not (digits.isascii() and digits.isdigit()):
        return None
    return magic, int(digits)


def rename_handles(variant: int = 0) -> tuple[str, str]:
    """The handle a RENAMES account reports before and after `RENAME_AFTER`."""
    return f"renamer_{variant}", f"renamed_{variant}"


def published_id(platform: Platform, hours_before_anchor: int, n: int = 0) -> str:
    """A video published exactly `hours_before_anchor` hours before the sandbox's anchor (its
    `anchor`, the start of the UTC day it started on, in GET /__sandbox/clock); `n` tells
    apart up to 1,000 videos published at the same time. Instagram keeps hours below 1,000."""
    if hours_before_anchor < 0 or not 0 <= n < _PUBLISHED_SLOTS:
        raise ValueError("hours_before_anchor >= 0 and 0 <= n < 1000")
    variant = hours_before_anchor * _PUBLISHED_SLOTS + n
    if platform is Platform.TIKTOK:
        return tiktok_id(Magic.PUBLISHED, variant)
    if platform is Platform.YOUTUBE:
        return youtube_id(Magic.PUBLISHED, variant)
    return instagram_shortcode(Magic.PUBLISHED, variant)


def published_hours(variant: int) -> int:
    return variant // _PUBLISHED_SLOTS


def variant_of(platform: Platform, post_id: str) -> int | None:
    """The variant of a magic id (None for other ids)."""
    if magic_of(platform, post_id) is None:
        return None
    if platform is Platform.YOUTUBE:
        found = _youtube_magic(post_id)
        return None if found is None else found[1]
    if platform is Platform.TIKTOK:
        return int(post_id[len(_TIKTOK_PREFIX) : -3])
    _, _, variant = post_id.partition("_")
    return int(variant) if variant.isascii() and variant.isdigit() else None


def magic_of(platform: Platform, post_id: str) -> Magic | None:
    if platform is Platform.TIKTOK:
        if len(post_id) == 19 and post_id.startswith(_TIKTOK_PREFIX):
            return TIKTOK_CODES.get(post_id[-3:])
        return None
    if platform is Platform.YOUTUBE:
        found = _youtube_magic(post_id)
        return None if found is None else found[0]
    prefix, _, _ = post_id.partition("_")
    return INSTAGRAM_PREFIXES.get(prefix) if prefix != post_id else None
