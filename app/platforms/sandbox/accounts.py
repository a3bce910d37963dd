"""Sandbox account listings (watched accounts, issue 29): every handle is an account that
posts on the sandbox's clock, so a watch sees new videos appear as the clock moves.

An ordinary account has `HISTORY` posts before the anchor and one more every `EVERY` from
then on (a post exists once the sandbox's now has reached its publish time). Captions carry
`#fyp` always, `#ad` on even posts and `#giveaway` on every fifth, for the hashtag filters.
Its posts' ids are ordinary (not magic) ids, and their stats answers name the account (the
sandbox remembers each listed id), on a steady curve.

Magic handles (the prefix decides; anything may follow, so tests can make many):
    private_...    the account is private (tikwm "This account is private"; Instagram
                   `is_private`)
    missing_...    no such account (tikwm "User doesn't exist"; Instagram null user)
    longhistory_.. `LONG_HISTORY` posts before the anchor: several pages
    mixed_...      Instagram: every third post a carousel and every fourth an image, among
                   the reels (TikTok: all videos); a long history too
    other_...      the listing answers with `dev.daily`'s posts (another user's)
    renamer_N / renamed_N   the RENAMES account N: posts name `renamer_N` until
                   RENAME_AFTER past the anchor and `renamed_N` from then on, with one user
                   id throughout; either handle lists it

YouTube channels are listed by channel id (their uploads playlist, `UU...`): every well-formed
channel id is a channel whose uploads name it, and `channel_id(name)` makes one from a name
(`UC`, the name, `-` up to 22 characters) so the prefixes above work there too (`missing_`:
404 playlistNotFound; `private_` is not a thing on YouTube and lists like any other).
"""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.domain.enums import Platform
from app.platforms.sandbox.magic import OTHER_AUTHOR_HANDLE, RENAME_AFTER, rename_handles
from app.platforms.sandbox.videos import (
    Curve,
    SyntheticVideo,
    synthetic_video,
    user_id,
    youtube_video_id,
)
from app.platforms.urls import media_id_to_shortcode

HISTORY = 20
LONG_HISTORY = 100
EVERY = timedelta(hours=8)
TIKTOK_PAGE_MAX = 35
INSTAGRAM_PAGE = 12
YOUTUBE_PAGE_MAX = 50
_CHANNEL_BODY = 22
PRIVATE_MESSAGE = "This account is private"
MISSING_MESSAGE = "User doesn't exist"


@dataclass(frozen=True)
class AccountPost:
    video: SyntheticVideo
    index: int
    kind: str  # "video", "carousel" or "image"
    caption: str


def channel_id(name: str) -> str:
    """A sandbox YouTube channel's id for an account name (at most 22 characters)."""
    if len(name) > _CHANNEL_BODY:
        raise ValueError(f"a sandbox channel name has at most {_CHANNEL_BODY} characters")
    return "UC" + name.ljust(_CHANNEL_BODY, "-")


def channel_of_playlist(playlist: str) -> str | None:
    """The channel whose uploads playlist this is (`UU` + the channel id after `UC`)."""
    if len(playlist) != 2 + _CHANNEL_BODY or not playlist.startswith("UU"):
        return None
    return "UC" + playlist[2:]


def _kind(handle: str) -> str:
    if len(handle) == 2 + _CHANNEL_BODY and handle.startswith("UC"):
        handle = handle[2:]  # a YouTube channel id: its name decides
    return handle.lower().partition("_")[0]


def is_private(handle: str) -> bool:
    return _kind(handle) == "private"


def is_missing(handle: str) -> bool:
    return _kind(handle) == "missing"


def _account(platform: Platform, handle: str, now: datetime, anchor: datetime) -> tuple[str, str]:
    """(the handle its posts name now, its user id)."""
    lowered = handle.lower()
    if _kind(lowered) == "other":
        return OTHER_AUTHOR_HANDLE, user_id(platform, OTHER_AUTHOR_HANDLE)
    if platform is Platform.YOUTUBE:  # listed by channel id: its uploads name it
        return handle, handle
    if lowered.startswith(("renamer_", "renamed_")):
        variant = lowered.partition("_")[2]
        before, after = rename_handles(int(variant) if variant.isdigit() else 0)
        return (after if now >= anchor + RENAME_AFTER else before), user_id(platform, before)
    return handle, user_id(platform, handle)


def _post_id(platform: Platform, key: str, index: int) -> str:
    digest = int.from_bytes(hashlib.sha256(f"account:{key}:{index}".encode()).digest()[:8])
    if platform is Platform.TIKTOK:
        return str(7_400_000_000_000_000_000 + digest % 10**17)
    if platform is Platform.YOUTUBE:
        return youtube_video_id(digest)
    return media_id_to_shortcode(2**62 + digest % 2**62)


def _key(handle: str) -> str:
    """Both handles of a renamed account are one account (a channel id is its own key: case
    matters in it)."""
    if len(handle) == 2 + _CHANNEL_BODY and handle.startswith("UC"):
        return handle
    lowered = handle.lower()
    if lowered.startswith("renamed_"):
        return "renamer_" + lowered.partition("_")[2]
    return lowered


def post_at(
    platform: Platform, handle: str, index: int, anchor: datetime, now: datetime
) -> AccountPost:
    """The account's post number `index` (0: the first after the anchor; negative: history)."""
    key = _key(handle)
    post_id = _post_id(platform, key, index)
    shown, uid = _account(platform, handle, now, anchor)
    base = synthetic_video(platform, post_id, anchor, curve=Curve.STEADY)
    video = replace(base, handle=shown, user_id=uid, created_at=anchor + EVERY * index)
    kind = "video"
    if platform is Platform.INSTAGRAM and _kind(key) == "mixed":
        kind = "carousel" if index % 3 == 0 else "image" if index % 4 == 0 else "video"
    tags = " #fyp" + (" #ad" if index % 2 == 0 else "") + (" #giveaway" if index % 5 == 0 else "")
    return AccountPost(video, index, kind, f"sandbox post {index} by {shown}{tags}")


def posts(platform: Platform, handle: str, anchor: datetime, now: datetime) -> list[AccountPost]:
    """Every post the account has published by `now`, newest first."""
    history = LONG_HISTORY if _kind(handle) in ("longhistory", "mixed") else HISTORY
    newest = int((now - anchor) / EVERY) if now >= anchor else -1
    return [post_at(platform, handle, i, anchor, now) for i in range(newest, -history - 1, -1)]


def page(
    items: list[AccountPost], cursor: str | None, size: int
) -> tuple[list[AccountPost], str | None, bool]:
    """The page after `cursor` (the publish time of the previous page's last post, in unix
    seconds, as a string; none: the newest)."""
    if cursor and cursor.isdigit() and cursor != "0":
        before = int(cursor)
        items = [p for p in items if p.video.create_time < before]
    chosen = items[:size]
    more = len(items) > size
    next_cursor = str(chosen[-1].video.create_time) if chosen else None
    return chosen, next_cursor, more


def tikwm_posts(
    chosen: list[AccountPost], now: datetime, cursor: str | None, more: bool
) -> dict[str, object]:
    videos = []
    for post in chosen:
        v = post.video
        counts = v.counts_at(now)
        videos.append(
            {
                "video_id": v.post_id,
                "aweme_id": f"v09044g40000{v.post_id[-12:]}",
                "region": "US",
                "title": post.caption,
                "cover": f"https://p16-sign-va.tiktokcdn.com/obj/{v.post_id}-cover.jpeg",
                "duration": 23,
                "play": f"https://v16m.tiktokcdn.com/video/tos/{v.post_id}/play.mp4",
                "play_count": counts.views,
                "digg_count": counts.likes,
                "comment_count": counts.comments,
                "share_count": counts.shares,
                "download_count": counts.shares // 12,
                "collect_count": counts.likes // 10,
                "create_time": v.create_time,
                "is_top": 0,
                "author": {
                    "id": v.user_id,
                    "unique_id": v.handle,
                    "nickname": v.handle,
                    "avatar": f"https://p16-sign-va.tiktokcdn.com/{v.user_id}.jpeg",
                },
            }
        )
    return {
        "code": 0,
        "msg": "success",
        "processed_time": 0.3121,
        "data": {"videos": videos, "cursor": cursor or "0", "hasMore": more},
    }


_MEDIA_TYPES = {"image": 1, "video": 2, "carousel": 8}
_PRODUCT = {"image": "feed", "video": "clips", "carousel": "carousel_container"}


def instagram_reels(
    handle: str, chosen: list[AccountPost], now: datetime, cursor: str | None, more: bool
) -> dict[str, object]:
    edges = []
    owner_id, owner_name = (
        (chosen[0].video.user_id, chosen[0].video.handle) if chosen else ("", handle)
    )
    for post in chosen:
        v = post.video
        counts = v.counts_at(now)
        media: dict[str, object] = {
            "pk": str(2**62),
            "id": f"{v.post_id}_{v.user_id}",
            "code": v.post_id,
            "taken_at": v.create_time,
            "media_type": _MEDIA_TYPES[post.kind],
            "product_type": _PRODUCT[post.kind],
            "like_count": counts.likes,
            "comment_count": counts.comments,
            "user": {"pk": v.user_id, "id": v.user_id, "username": v.handle},
            "caption": {"text": post.caption},
        }
        if post.kind == "video":
            media |= {"play_count": counts.views, "view_count": counts.views * 4 // 10}
        edges.append({"node": {"media": media}, "cursor": str(v.create_time)})
    return {
        "data": {
            "user": {"id": owner_id, "username": owner_name, "is_private": False},
            "xdt_api__v1__clips__user__connection_v2": {
                "edges": edges,
                "page_info": {"end_cursor": cursor, "has_next_page": more},
            },
        },
        "status": "ok",
    }


def instagram_private(handle: str, platform_user_id: str) -> dict[str, object]:
    return {
        "data": {
            "user": {"id": platform_user_id, "username": handle, "is_private": True},
            "xdt_api__v1__clips__user__connection_v2": None,
        },
        "status": "ok",
    }


def instagram_missing() -> dict[str, object]:
    return {"data": {"user": None}, "status": "ok"}


def youtube_playlist_items(
    playlist: str, chosen: list[AccountPost], next_token: str | None, total: int
) -> dict[str, object]:
    """playlistItems.list's answer (https://developers.google.com/youtube/v3/docs/playlistItems)."""
    items = []
    for post in chosen:
        v = post.video
        published = v.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        title = f"Sandbox short {v.post_id}"
        items.append(
            {
                "kind": "youtube#playlistItem",
                "etag": hashlib.sha256(f"etag:{playlist}:{v.post_id}".encode()).hexdigest()[:27],
                "id": hashlib.sha256(f"{playlist}:{v.post_id}".encode()).hexdigest()[:40],
                "snippet": {
                    "publishedAt": published,
                    "channelId": v.user_id,
                    "title": title,
                    "description": post.caption,
                    "thumbnails": {
                        "default": {
                            "url": f"https://i.ytimg.com/vi/{v.post_id}/default.jpg",
                            "width": 120,
                            "height": 90,
                        }
                    },
                    "channelTitle": v.handle,
                    "playlistId": playlist,
                    "position": post.index,
                    "resourceId": {"kind": "youtube#video", "videoId": v.post_id},
                    "videoOwnerChannelTitle": v.handle,
                    "videoOwnerChannelId": v.user_id,
                },
                "contentDetails": {"videoId": v.post_id, "videoPublishedAt": published},
            }
        )
    answer: dict[str, object] = {
        "kind": "youtube#playlistItemListResponse",
        "etag": hashlib.sha256(f"etag:{playlist}:{next_token}".encode()).hexdigest()[:27],
        "items": items,
        "pageInfo": {"totalResults": total, "resultsPerPage": YOUTUBE_PAGE_MAX},
    }
    if next_token is not None:
        answer["nextPageToken"] = next_token
    return answer


# channels.list (a YouTube channel's @handle; app/platforms/youtube_channels.py)


def channel_handle(channel: str, anchor: datetime, now: datetime) -> str | None:
    """The handle (without its @) a sandbox channel has now: its name (the channel id after
    `UC`, without the `-` padding), except a `renamer_N` channel, which is `@renamer_N` until
    RENAME_AFTER past the anchor and `@renamed_N` from then on, and a `nohandle_` channel,
    which has none (channels.list leaves its `customUrl` out)."""
    name = channel[2:].rstrip("-") if channel.startswith("UC") else channel
    kind = _kind(channel)
    if kind == "nohandle":
        return None
    if kind == "renamer":
        variant = name.partition("_")[2]
        before, after = rename_handles(int(variant) if variant.isdigit() else 0)
        return after if now >= anchor + RENAME_AFTER else before
    return name or None


def youtube_channels(found: list[tuple[str, str | None]]) -> dict[str, object]:
    """channels.list?part=snippet's answer (https://developers.google.com/youtube/v3/docs/
    channels): an item per channel found, `customUrl` the handle with its @ (left out when
    the channel has none); no `items` at all when none was found, as YouTube answers."""
    items = []
    for channel, handle in found:
        snippet: dict[str, object] = {
            "title": (handle or channel).replace("_", " ").replace("-", " ").strip().title(),
            "description": "",
            "publishedAt": "2020-01-01T00:00:00Z",
            "thumbnails": {"default": {"url": f"https://yt3.ggpht.com/{channel}=s88", "width": 88}},
            "localized": {"title": handle or channel, "description": ""},
        }
        if handle is not None:
            snippet["customUrl"] = f"@{handle}"
        items.append(
            {
                "kind": "youtube#channel",
                "etag": hashlib.sha256(f"etag:{channel}:{handle}".encode()).hexdigest()[:27],
                "id": channel,
                "snippet": snippet,
            }
        )
    answer: dict[str, object] = {
        "kind": "youtube#channelListResponse",
        "etag": hashlib.sha256(f"etag:{found}".encode()).hexdigest()[:27],
        "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
    }
    if items:
        answer["items"] = items
    return answer
