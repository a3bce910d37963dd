"""The sandbox provider: a small ASGI app that answers exactly like the real TikTok primary
(tikwm-style), TikTok backup (web item detail behind a RapidAPI-style gateway) and Instagram
APIs, with deterministic, growing stats and magic ids for every failure mode. Tests call it
in-process through `httpx.ASGITransport(app=create_app(...))`; `make run` starts it with
`python -m app.platforms.sandbox --port 8900` so a new user sees tracking work with no keys.

Endpoints (real shapes)
    POST /api/                         tikwm: form url=<canonical URL>&hd=0
    GET  /api/post/detail?videoId=ID   TikTok item detail
    GET  /v1/instagram/post?url=...    Instagram post
    POST /api/user/posts               tikwm: form unique_id=@handle&count=N&cursor=C, an
                                       account's posts, newest first (watched accounts)
    GET  /v1/instagram/reels?username=&cursor=   an Instagram account's reels
    GET  /youtube/v3/playlistItems?playlistId=UU...&maxResults=&pageToken=   a YouTube
                                       channel's uploads (any channel id; names from
                                       `accounts.channel_id(name)`), a quota unit a call
    GET  /youtube/v3/channels?part=snippet&id=UC...,UC...   channels.list: each channel's
                                       `customUrl` ("@" + its name; `renamer_N` channels
                                       `@renamer_N`, then `@renamed_N` from RENAME_AFTER past
                                       the anchor; `nohandle_` none; `missing_` left out),
                                       a quota unit a call; `Sandbox.rename_channel(id,
                                       handle)` or POST /__sandbox/channels renames one
    Accounts post on the sandbox clock, with magic handles for a private, a missing, a
    renamed account, a long history and carousels/images among reels: see `accounts`.
    Keys are accepted and not required. Key `bad-key` gets the gateway's 401, and
    `unsubscribed-key` its 403 (`x-rapidapi-key` for TikTok, `x-api-key` for Instagram).

Stats: see `videos` (each id has a creator, a publish time in the 40 days before the anchor,
and a growth curve: steady, slow starter, viral or stalled under 1,000 views).

Magic ids (table and helpers in `magic`: `tiktok_id(Magic.X, variant)`,
`instagram_shortcode(Magic.X, variant)`)
    TikTok  9999<12-digit variant><code>   Instagram  <PREFIX>_<variant>
    404 deleted          primary "Url parsing is failed", backup 10204;  DELETED_n: null media
    216 private post     primary "Url parsing is failed", backup 10216;  PRIVATE_n: null media
    222 private account  primary "Url parsing is failed", backup 10222
                                                       CAROUSEL_n: XDTGraphSidecar, no views
                                                       PHOTO_n: XDTGraphImage, no views
                                                       LEGACY_n: shortcode_media/GraphVideo
    408 slow             every provider sleeps `slow_seconds` (default 15);  SLOW_n
    500 server error     every provider answers 500 (both TikTok APIs fail);  ERROR500_n
    429 rate limited     every provider answers 429, Retry-After: `retry_after_seconds`;
                                                                            RATELIMIT_n
    430 free api limit   primary "Free Api Limit"; backup answers
                                                       LOGIN_n: 401 with require_login
    422 malformed        primary truncated JSON, backup empty itemStruct;  MALFORMED_n: an
                         HTML login page
    503 primary down     primary answers 503; backup answers
    502 flaky            first `flaky_failures` (default 2) requests per provider and id get
                         502, then normal answers;  FLAKY_n
    431 quota exhausted  primary tikwm's daily "Free Api Limit: 10000 request/ 1 day."
                         (outcome `quota_exhausted`); backup answers
    451 withheld         primary "Url parsing is failed", backup 10204 with statusMsg
                         `cross_border_violation_ur` (outcome `withheld`)
    423 under review     primary "Url parsing is failed", backup 10204 with statusMsg
                         `author_status,status_reviewing` (outcome `under_review`)

  Videos with a chosen author or publish time (they answer normally, on a steady curve, so
  they pass 1,000 views within a week):
    601 other author     the answer names `dev.daily` (`OTHER_AUTHOR_HANDLE`, with its own
                         stable user id) whatever handle the URL has; published 1 day before
                         the anchor;  OTHER_n (owner `dev.daily`)
    602 renames          one account per variant n: stable user id, handle `renamer_n` until
                         `RENAME_AFTER` (1 day) after the anchor, `renamed_n` from then on
                         (advance /__sandbox/clock to see it); published 1 day before the
                         anchor; `rename_handles(n)` gives both;  RENAME_n (owner)
    603 published        published exactly H hours before the anchor:
                         `published_id(platform, H, n=0)` (variant H*1000+n);  PUB_<H*1000+n>
  Integrity (published 1 day before the anchor; the change comes `INTEGRITY_EVENT_AFTER`,
  1 day, after the anchor):
    611 purged           steady growth, then 40% of it from then on: a suspicious drop,
                         confirmed by the next answer, then flag views_dropped;  PURGED_n
    612 spike            2,000 views until then, 60,000 from then on: flag view_spike;
                         SPIKE_n
    613 botted           50,000 views, 0.02% likes, no comments: flag low_engagement;
                         BOTTED_n
  The anchor is the start of the UTC day the sandbox started on (`anchor` in
  GET /__sandbox/clock); the clock offset moves "now", never the anchor. A CAROUSEL_n answer
  is the outcome `skipped_carousel`, a PHOTO_n answer `skipped_photo`.

YouTube (GET /youtube/v3/videos?part=...&id=ID,ID,...&key=KEY, the Data API's videos.list)
    Up to 50 ids a call; every call is logged as one `youtube` request (1 quota unit). Key
    `bad-key` gets 400 keyInvalid; `Sandbox(youtube_daily_units=N)` answers 403
    quotaExceeded past N calls per key and Pacific day. Magic ids `<PREFIX><digits>A`
    (11 characters; `youtube_id(Magic.X, variant)`):
    GONE_n / PRIV_n      left out of `items` (not found or private: YouTube does not say)
    QUOTA_n              the whole call: 403 quotaExceeded
    BADKEY_n             the whole call: 400 keyInvalid
    NOLIKES_n            statistics without likeCount (likes hidden: unknown, not 0)
    SLOW_n, ERROR_n, RATE_n (403 rateLimitExceeded), MALF_n, FLAKY_n: the whole call, as
    for the other providers; OTHER_n, RENAME_n, PUB_n, PURGED_n, SPIKE_n, BOTTED_n shaped
    as above. A videos.list answer names the channel id, never a handle, so a RENAMES video
    shows no rename there; channels.list does (`renamer_N` channels, `rename_channel`).

Admin (all JSON)
    GET/POST/DELETE /__sandbox/faults   {"tiktok_primary"|"tiktok_backup"|"instagram":
        "500"|"503"|"429"|"timeout"|"malformed"|"not_found"|"quota"|null, "latency_ms": N};
        POST merges the given keys, DELETE clears. Faults apply to every id, before magic
        ids. "quota": tikwm's daily free limit (the others: 429).
    GET/DELETE /__sandbox/requests      {"requests": [{provider, video_id, method, path,
        host, at, monotonic}]}; filter with ?provider=&video_id=. Short links log as
        provider "shortlink".
    GET/POST /__sandbox/clock           {"offset_seconds": N} sets, {"advance_seconds": N}
        moves the sandbox clock; stats follow it.
    GET /__sandbox/videos/{platform}/{post_id}   creator, publish time, curve, stats now.
    GET/POST/DELETE /__sandbox/channels   {"handles": {channel id: handle or null}}: POST
        {"UC...": "newname" | null} renames YouTube channels in channels.list's answers.

Fake Discord (app/platforms/sandbox/discord.py; sandbox mode's DISCORD_API_BASE_URL)
    PUT   /discord/api/v10/applications/{id}/commands      register commands (Bot auth)
    PATCH /discord/api/v10/webhooks/{id}/{token}/messages/@original   edit a deferred answer
    GET/DELETE /__sandbox/discord   {"commands": {app id: [...]}, "edits": [{application_id,
        token, content, at}]}; filter with ?application_id=&token=.

Short links (routed by Host header)
    vm.tiktok.com/X, vt.tiktok.com/X, www.tiktok.com/t/X
        -> 301 https://www.tiktok.com/@sandbox_user/video/<id derived from X>, a video
        @sandbox_user posted (its answers name that author)
    www.instagram.com/share/.../X -> 301 https://www.instagram.com/reel/<shortcode from X>/,
        a reel @sandbox.user posted
    X = LOOP redirects to itself; X = EVIL redirects to https://evil.example.com/.
"""

from typing import TYPE_CHECKING, Any

from app.platforms.sandbox.magic import (
    BAD_KEY,
    OTHER_AUTHOR_HANDLE,
    RENAME_AFTER,
    UNSUBSCRIBED_KEY,
    Magic,
    instagram_shortcode,
    magic_of,
    published_id,
    rename_handles,
    tiktok_id,
    youtube_id,
)
from app.platforms.sandbox.videos import (
    Counts,
    Curve,
    SyntheticVideo,
    synthetic_video,
    user_id,
    video_at,
    videos_by,
)

if TYPE_CHECKING:
    from app.platforms.sandbox.app import Faults, LoggedRequest, Sandbox, create_app
    from app.platforms.sandbox.discord import FakeDiscord

# The served app (Starlette, the SMTP sink) is imported when first named: the answers and
# the synthetic videos (bench/providers.py, in the refresh benchmark's engine process) need
# neither, and that process's peak RSS is a figure.
_SERVED = {
    "Faults": "app",
    "LoggedRequest": "app",
    "Sandbox": "app",
    "create_app": "app",
    "FakeDiscord": "discord",
}


def __getattr__(name: str) -> Any:
    if name not in _SERVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_SERVED[name]}"), name)


__all__ = [
    "BAD_KEY",
    "OTHER_AUTHOR_HANDLE",
    "RENAME_AFTER",
    "UNSUBSCRIBED_KEY",
    "Counts",
    "Curve",
    "FakeDiscord",
    "Faults",
    "LoggedRequest",
    "Magic",
    "Sandbox",
    "SyntheticVideo",
    "create_app",
    "instagram_shortcode",
    "magic_of",
    "published_id",
    "rename_handles",
    "synthetic_video",
    "tiktok_id",
    "user_id",
    "video_at",
    "videos_by",
    "youtube_id",
]
