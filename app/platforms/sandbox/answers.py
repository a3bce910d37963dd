"""Response bodies in the real providers' shapes (same keys, nesting and types as the stored
samples in tests/platforms/samples, which a test checks). Pure: data in, JSON-ready dicts out.
"""

import hashlib
from datetime import datetime

from app.platforms.sandbox.videos import Counts, SyntheticVideo
from app.platforms.urls import shortcode_to_media_id

JsonObject = dict[str, object]

URL_PARSING_FAILED = "Url parsing is failed! Please check url."
FREE_API_LIMIT = "Free Api Limit: 1 request/second."
FREE_API_DAILY_LIMIT = "Free Api Limit: 10000 request/ 1 day."
# TikTok item detail 10204 reasons (statusMsg), as real pages carry them.
WITHHELD_CROSS_BORDER = "cross_border_violation_ur"
UNDER_REVIEW_AUTHOR = "author_status,status_reviewing"
RAPIDAPI_INVALID_KEY = "Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info."
RAPIDAPI_NOT_SUBSCRIBED = "You are not subscribed to this API."
RAPIDAPI_RATE_LIMIT = (
    "You have exceeded the rate limit per second for your plan, BASIC, by the API provider"
)
CDN = "https://p16-sign-va.tiktokcdn.com"
IG_CDN = "https://scontent.cdninstagram.com"


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length].upper()


def _log_id(video_id: str, now: datetime) -> str:
    return now.strftime("%Y%m%d%H%M%S") + _hex(f"log:{video_id}", 18)


def _music_id(video: SyntheticVideo) -> str:
    return "7" + video.user_id[1:]  # "original sound" belongs to its creator


def tikwm_ok(video: SyntheticVideo, counts: Counts) -> JsonObject:
    music_id = _music_id(video)
    return {
        "code": 0,
        "msg": "success",
        "processed_time": 0.2147,
        "data": {
            "id": video.post_id,
            "region": "US",
            "title": f"sandbox video {video.post_id} #fyp",
            "cover": f"{CDN}/obj/tos-maliva-p-0068/{video.post_id}-cover.jpeg",
            "ai_dynamic_cover": f"{CDN}/obj/tos-maliva-p-0068/{video.post_id}-dyn.webp",
            "origin_cover": f"{CDN}/obj/tos-maliva-p-0068/{video.post_id}-origin.jpeg",
            "duration": 23,
            "play": f"https://v16m.tiktokcdn.com/video/tos/{video.post_id}/play.mp4",
            "wmplay": f"https://v16m.tiktokcdn.com/video/tos/{video.post_id}/wmplay.mp4",
            "size": 3284711,
            "wm_size": 3412998,
            "music": f"https://sf16-ies-music-va.tiktokcdn.com/obj/{music_id}.mp3",
            "music_info": {
                "id": music_id,
                "title": f"original sound - {video.handle}",
                "play": f"https://sf16-ies-music-va.tiktokcdn.com/obj/{music_id}.mp3",
                "cover": f"{CDN}/{video.user_id}-avt.jpeg",
                "author": video.handle,
                "original": True,
                "duration": 23,
                "album": "",
            },
            "play_count": counts.views,
            "digg_count": counts.likes,
            "comment_count": counts.comments,
            "share_count": counts.shares,
            "download_count": counts.shares // 12,
            "collect_count": counts.likes // 10,
            "create_time": video.create_time,
            "anchors": None,
            "anchors_extras": "",
            "is_ad": False,
            "commerce_info": {
                "adv_promotable": False,
                "auction_ad_invited": False,
                "branded_content_type": 0,
                "with_comment_filter_words": False,
            },
            "commercial_video_info": "",
            "item_comment_settings": 0,
            "mentioned_users": "",
            "author": {
                "id": video.user_id,
                "unique_id": video.handle,
                "nickname": video.handle,
                "avatar": f"{CDN}/tos-maliva-avt-0068/{video.user_id}.jpeg",
            },
        },
    }


def tikwm_error(message: str) -> JsonObject:
    return {"code": -1, "msg": message, "processed_time": 0.0611}


def _detail_envelope(video_id: str, now: datetime, status: int, status_msg: str = "") -> JsonObject:
    log_id = _log_id(video_id, now)
    return {
        "extra": {
            "fatal_item_ids": [],
            "logid": log_id,
            "now": int(now.timestamp() * 1000),
        },
        "log_pb": {"impr_id": log_id},
        "statusCode": status,
        "statusMsg": status_msg,
        "status_code": status,
        "status_msg": status_msg,
    }


def detail_ok(video: SyntheticVideo, counts: Counts, now: datetime) -> JsonObject:
    collects = counts.likes // 10
    item = {
        "id": video.post_id,
        "desc": f"sandbox video {video.post_id} #fyp",
        "createTime": video.create_time,
        "scheduleTime": 0,
        "video": {
            "id": video.post_id,
            "height": 1024,
            "width": 576,
            "duration": 23,
            "ratio": "540p",
            "cover": f"{CDN}/obj/{video.post_id}-cover.jpeg",
            "format": "mp4",
            "bitrate": 1132254,
            "definition": "540p",
            "codecType": "h264",
            "videoQuality": "normal",
        },
        "author": {
            "id": video.user_id,
            "shortId": "",
            "uniqueId": video.handle,
            "nickname": video.handle,
            "avatarThumb": f"{CDN}/{video.user_id}-thumb.jpeg",
            "signature": "",
            "createTime": 1589000000,
            "verified": False,
            "secUid": "MS4wLjABAAAA" + _hex(f"sec:{video.user_id}", 40),
            "ftc": False,
            "relation": 0,
            "openFavorite": False,
            "commentSetting": 0,
            "duetSetting": 0,
            "stitchSetting": 0,
            "privateAccount": False,
            "secret": False,
            "isADVirtual": False,
            "downloadSetting": 0,
        },
        "music": {
            "id": _music_id(video),
            "title": f"original sound - {video.handle}",
            "authorName": video.handle,
            "original": True,
            "duration": 23,
        },
        "challenges": [{"id": "229207", "title": "fyp"}],
        "duetEnabled": True,
        "stitchEnabled": True,
        "shareEnabled": True,
        "isAd": False,
        "itemCommentStatus": 0,
        "locationCreated": "US",
        "diversificationId": 10010,
        "stats": {
            "diggCount": counts.likes,
            "shareCount": counts.shares,
            "commentCount": counts.comments,
            # The web API's int32 counters saturate; statsV2 has the exact string.
            "playCount": min(counts.views, 2**31 - 1),
            "collectCount": collects,
        },
        "statsV2": {
            "diggCount": str(counts.likes),
            "shareCount": str(counts.shares),
            "commentCount": str(counts.comments),
            "playCount": str(counts.views),
            "collectCount": str(collects),
            "repostCount": "0",
        },
    }
    return {
        **_detail_envelope(video.post_id, now, 0),
        "itemInfo": {"itemStruct": item},
        "shareMeta": {
            "desc": f"{counts.likes} likes, {counts.comments} comments. "
            f"TikTok video from {video.handle}",
            "title": f"TikTok \u00b7 {video.handle}",
        },
    }


def detail_status(video_id: str, status: int, now: datetime, status_msg: str = "") -> JsonObject:
    return _detail_envelope(video_id, now, status, status_msg)


def detail_empty_item(video_id: str, now: datetime) -> JsonObject:
    """What the web API sends for some removed or region-blocked videos: success, no item."""
    return {**_detail_envelope(video_id, now, 0), "itemInfo": {"itemStruct": {}}}


def gateway_message(message: str) -> JsonObject:
    return {"message": message}


def _owner(video: SyntheticVideo) -> JsonObject:
    return {
        "id": video.user_id,
        "username": video.handle,
        "full_name": video.handle.replace(".", " ").replace("_", " ").title(),
        "is_verified": False,
        "is_private": False,
        "profile_pic_url": f"{IG_CDN}/v/t51.2885-19/{video.user_id}.jpg",
        "edge_followed_by": {"count": 48211},
    }


def _media_base(video: SyntheticVideo, typename: str) -> JsonObject:
    is_video = typename.endswith("GraphVideo")
    return {
        "__typename": typename,
        "__isXDTGraphMediaInterface": typename,
        "id": str(shortcode_to_media_id(video.post_id)),
        "shortcode": video.post_id,
        "thumbnail_src": f"{IG_CDN}/v/t51.29350-15/{video.post_id}-thumb.jpg",
        "dimensions": {"height": 1333, "width": 750},
        "display_url": f"{IG_CDN}/v/t51.29350-15/{video.post_id}.jpg",
        "is_video": is_video,
        "edge_media_to_caption": {
            "edges": [{"node": {"created_at": str(video.create_time), "text": "sandbox post"}}]
        },
        "comments_disabled": False,
        "taken_at_timestamp": video.create_time,
        "like_and_view_counts_disabled": False,
        "owner": _owner(video),
        "is_ad": False,
        "product_type": "clips" if is_video else "feed",
    }


def _instagram_envelope(media: JsonObject | None, key: str = "xdt_shortcode_media") -> JsonObject:
    return {"data": {key: media}, "extensions": {"is_final": True}, "status": "ok"}


def instagram_video(video: SyntheticVideo, counts: Counts) -> JsonObject:
    return _instagram_envelope(
        {
            **_media_base(video, "XDTGraphVideo"),
            # Plays count every loop; "views" are the older, smaller metric.
            "video_play_count": counts.views,
            "video_view_count": counts.views * 4 // 10,
            "video_duration": 17.4,
            "video_url": f"{IG_CDN}/o1/v/t16/f2/m86/{video.post_id}.mp4",
            "edge_media_preview_like": {"count": counts.likes, "edges": []},
            "edge_media_to_parent_comment": {
                "count": counts.comments,
                "page_info": {"has_next_page": counts.comments > 12, "end_cursor": "QVFD"},
                "edges": [],
            },
            "edge_media_preview_comment": {"count": counts.comments, "edges": []},
        }
    )


def instagram_legacy_video(video: SyntheticVideo, counts: Counts) -> JsonObject:
    media = _media_base(video, "GraphVideo")
    del media["__isXDTGraphMediaInterface"]
    return _instagram_envelope(
        {
            **media,
            "video_play_count": None,
            "video_view_count": counts.views,
            "video_duration": 31.0,
            "edge_liked_by": {"count": counts.likes},
            "edge_media_to_comment": {
                "count": counts.comments,
                "page_info": {"has_next_page": False, "end_cursor": None},
                "edges": [],
            },
        },
        key="shortcode_media",
    )


def instagram_carousel(video: SyntheticVideo, counts: Counts) -> JsonObject:
    first_child = shortcode_to_media_id(video.post_id) + 1
    return _instagram_envelope(
        {
            **_media_base(video, "XDTGraphSidecar"),
            "edge_media_preview_like": {"count": counts.likes, "edges": []},
            "edge_media_to_parent_comment": {"count": counts.comments, "edges": []},
            "edge_sidecar_to_children": {
                "edges": [
                    {"node": {"__typename": "XDTGraphImage", "id": str(first_child + i)}}
                    for i in range(2)
                ]
            },
        }
    )


def instagram_photo(video: SyntheticVideo, counts: Counts) -> JsonObject:
    return _instagram_envelope(
        {
            **_media_base(video, "XDTGraphImage"),
            "edge_media_preview_like": {"count": counts.likes, "edges": []},
            "edge_media_to_parent_comment": {"count": counts.comments, "edges": []},
        }
    )


def instagram_missing() -> JsonObject:
    return _instagram_envelope(None)


INSTAGRAM_WAIT = "Please wait a few minutes before you try again."


def instagram_require_login() -> JsonObject:
    return {"message": INSTAGRAM_WAIT, "require_login": True, "status": "fail"}


def instagram_rate_limited() -> JsonObject:
    return {"message": INSTAGRAM_WAIT, "status": "fail"}


SERVER_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# A cut-off body, as when a proxy drops the connection mid-answer.
TRUNCATED_JSON = '{"code":0,"msg":"success","processed_time":0.31,"data":{"id":"'
# Instagram answering a logged-out scraper with its login page instead of JSON.
INSTAGRAM_LOGIN_PAGE = (
    '<!DOCTYPE html><html lang="en" class="no-js not-logged-in"><head>'
    "<title>Login \u2022 Instagram</title></head><body></body></html>"
)


# YouTube Data API v3 (videos.list), as https://developers.google.com/youtube/v3/docs/videos
# describes it and tests/platforms/samples/provider_samples/youtube/ shows it.
YOUTUBE_QUOTA_MESSAGE = (
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)


def _youtube_etag(seed: str) -> str:
    return _hex(f"etag:{seed}", 27)


def youtube_item(
    video: SyntheticVideo, counts: Counts, *, likes_hidden: bool = False
) -> JsonObject:
    statistics: JsonObject = {"viewCount": str(counts.views), "favoriteCount": "0"}
    if not likes_hidden:
        statistics["likeCount"] = str(counts.likes)
    statistics["commentCount"] = str(counts.comments)
    published = video.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    thumbs = "https://i.ytimg.com/vi/" + video.post_id
    return {
        "kind": "youtube#video",
        "etag": _youtube_etag(video.post_id),
        "id": video.post_id,
        "snippet": {
            "publishedAt": published,
            "channelId": video.user_id,
            "title": f"Sandbox short {video.post_id}",
            "description": "#shorts",
            "thumbnails": {"default": {"url": f"{thumbs}/default.jpg", "width": 120, "height": 90}},
            "channelTitle": video.handle.replace("-", " ").replace(".", " ").title(),
            "categoryId": "22",
            "liveBroadcastContent": "none",
            "localized": {"title": f"Sandbox short {video.post_id}", "description": "#shorts"},
        },
        "contentDetails": {
            "duration": "PT" + str(15 + int(video.post_id.encode().hex(), 16) % 45) + "S",
            "dimension": "2d",
            "definition": "hd",
            "caption": "false",
            "licensedContent": False,
            "contentRating": {},
            "projection": "rectangular",
        },
        "statistics": statistics,
    }


def youtube_list(items: list[JsonObject]) -> JsonObject:
    return {
        "kind": "youtube#videoListResponse",
        "etag": _youtube_etag(",".join(str(i["id"]) for i in items)),
        "items": items,
        "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
    }


def youtube_error(
    code: int, reason: str, message: str, domain: str = "youtube.quota"
) -> JsonObject:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


def youtube_quota_exceeded() -> JsonObject:
    return youtube_error(403, "quotaExceeded", YOUTUBE_QUOTA_MESSAGE)


def youtube_key_invalid() -> JsonObject:
    return youtube_error(400, "keyInvalid", "Bad Request", "usageLimits")


def youtube_rate_limited() -> JsonObject:
    return youtube_error(
        403, "rateLimitExceeded", "The request cannot be completed due to rate limits.", "youtube"
    )
