"""Pure parsers for what users paste: video URLs and post ids. No I/O here; short links are
recognised but resolved elsewhere (`app.platforms.shortlinks`)."""

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qs, urlsplit

from app.domain.enums import Platform

TIKTOK_ID = re.compile(r"^[0-9]{1,40}$")  # leading zeros allowed; the value is bounded
INSTAGRAM_SHORTCODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A shortcode is a 64-bit media id in base 64: at most 11 characters. A private post's URL
# carries it followed by 28 more characters (yt-dlp and gallery-dl cut those off the same way).
SHORTCODE_MAX = 11
PRIVATE_SUFFIX = 28
# The API's media id `<media pk>_<owner pk>`; a pk written out is longer than any shortcode.
INSTAGRAM_MEDIA_ID = re.compile(r"^([0-9]{12,20})(?:_[0-9]{1,20})?$")
# TikTok handles: letters, digits, underscore and period; Instagram's are the same alphabet.
HANDLE = re.compile(r"^[A-Za-z0-9_.]{1,64}$")
# A YouTube video id: 11 characters of base64url (64 bits; case matters, so it is kept as
# written). A channel id: `UC` and 22 more. A YouTube handle (`@name`) also allows '-'.
YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
YOUTUBE_CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
YOUTUBE_HANDLE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SHORTCODE_INDEX = {c: i for i, c in enumerate(_SHORTCODE_ALPHABET)}
# YouTube ids are base64url: the same alphabet and order as Instagram's shortcodes.
_BASE64URL, _BASE64URL_INDEX = _SHORTCODE_ALPHABET, _SHORTCODE_INDEX
_INSTAGRAM_KINDS = {"p", "reel", "reels", "tv"}
# Each platform's own hosts, subdomains included: tiktokv.com serves TikTok's share links,
# instagr.am is Instagram's short domain.
_DOMAINS = (
    (Platform.TIKTOK, "tiktok.com"),
    (Platform.TIKTOK, "tiktokv.com"),
    (Platform.INSTAGRAM, "instagram.com"),
    (Platform.INSTAGRAM, "instagr.am"),
    (Platform.YOUTUBE, "youtube.com"),
    (Platform.YOUTUBE, "youtu.be"),
    (Platform.YOUTUBE, "youtube-nocookie.com"),
)
# YouTube paths whose next segment is the video id (/live/ID is a stream's own page).
_YOUTUBE_VIDEO_PATHS = {"shorts", "embed", "v", "e", "live"}


class UrlError(ValueError):
    """The text is not a video URL or id this service understands."""


@dataclass(frozen=True)
class PostRef:
    platform: Platform
    post_id: str
    handle: str | None = None  # the creator's handle when the URL names it


@dataclass(frozen=True)
class ShortLink:
    """A link that names no video until its redirects are followed on the platform's hosts."""

    platform: Platform
    url: str


def platform_of_host(host: str) -> Platform | None:
    host = host.lower().rstrip(".")
    for platform, domain in _DOMAINS:
        if host == domain or host.endswith("." + domain):
            return platform
    return None


def parse_video_url(text: str) -> PostRef | ShortLink:
    raw = text.strip()
    if not raw:
        raise UrlError("the URL is empty")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in raw):
        raise UrlError("the URL contains control characters")
    if raw.startswith("//"):
        raw = "https:" + raw  # a scheme-relative link, as embeds write them
    elif "://" not in raw:
        raw = "https://" + raw  # people paste "tiktok.com/@x/video/1" without a scheme
    try:
        parts = urlsplit(raw)
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise UrlError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() == "instagram":
        return _parse_instagram_app_link(parts)
    if parts.scheme.lower() not in {"http", "https"}:
        raise UrlError("only http and https URLs are supported")
    platform = platform_of_host(host)
    if platform is None:
        raise UrlError("not a TikTok, Instagram or YouTube URL")
    segments = [s for s in parts.path.split("/") if s]
    if platform is Platform.TIKTOK:
        return _parse_tiktok(host.lower(), segments, raw)
    if platform is Platform.YOUTUBE:
        return _parse_youtube(host.lower(), segments, parts.query)
    return _parse_instagram(segments, raw)


def _parse_tiktok(host: str, segments: list[str], url: str) -> PostRef | ShortLink:
    if host.startswith(("vm.", "vt.")) and len(segments) == 1:
        return ShortLink(Platform.TIKTOK, url)
    if len(segments) == 2 and segments[0] == "t":
        return ShortLink(Platform.TIKTOK, url)
    match segments:
        case [user, ("video" | "photo"), video_id] if user.startswith("@"):
            handle = user[1:]
            return PostRef(
                Platform.TIKTOK, _tiktok_id(video_id), handle if HANDLE.match(handle) else None
            )
        # www.tiktok.com/share/video/ID, www.tiktokv.com/share/video/ID and
        # t.tiktok.com/i18n/share/video/ID: shared links that name the video but no author.
        case ["share", "video", video_id] | ["i18n", "share", "video", video_id]:
            return PostRef(Platform.TIKTOK, _tiktok_id(video_id))
        case ["v", file] if file.endswith(".html"):
            return PostRef(Platform.TIKTOK, _tiktok_id(file.removesuffix(".html")))
        case ["embed", video_id] | ["embed", "v2", video_id]:
            return PostRef(Platform.TIKTOK, _tiktok_id(video_id))
    raise UrlError(
        "not a TikTok video URL (expected /@user/video/ID, /share/video/ID or a short link; "
        "profile, sound, tag, live and collection pages name no single video)"
    )


def _parse_instagram(segments: list[str], url: str) -> PostRef | ShortLink:
    if segments and segments[0] == "share" and len(segments) >= 2:
        return ShortLink(Platform.INSTAGRAM, url)
    match segments:
        case [("reel" | "reels"), "audio", *_]:
            raise UrlError("an Instagram sound page (/reels/audio/ID) is not a post")
        case [kind, code, *_] if kind in _INSTAGRAM_KINDS:
            return PostRef(Platform.INSTAGRAM, _shortcode(code))
        case [user, kind, code, *_] if kind in _INSTAGRAM_KINDS and HANDLE.match(user):
            return PostRef(Platform.INSTAGRAM, _shortcode(code), user)
    raise UrlError(
        "not an Instagram post URL (expected /p/CODE, /reel/CODE or /tv/CODE; profile, story, "
        "sound and tag pages name no single post)"
    )


def _parse_youtube(host: str, segments: list[str], query: str) -> PostRef:
    """youtube.com/shorts/ID, /watch?v=ID, /embed/ID, /live/ID, m. and music. hosts, and
    youtu.be/ID. A playlist, channel, handle or search page names no single video, even
    when its query names one (`/playlist?list=...`); `/watch?v=ID&list=...` is the video."""
    if host == "youtu.be" or host.endswith(".youtu.be"):
        if len(segments) == 1:
            return PostRef(Platform.YOUTUBE, _youtube_id(segments[0]))
        raise UrlError("a youtu.be link is youtu.be/ID")
    match segments:
        case ["watch" | "watch_popup"]:
            ids = parse_qs(query).get("v", [])
            if ids:  # YouTube plays the first when a link repeats v=
                return PostRef(Platform.YOUTUBE, _youtube_id(ids[0]))
            raise UrlError("a YouTube watch URL names its video as ?v=ID")
        case ["embed", ("videoseries" | "live_stream"), *_]:
            raise UrlError("an embedded playlist or live stream names no single video")
        case [kind, video_id, *_] if kind in _YOUTUBE_VIDEO_PATHS:
            return PostRef(Platform.YOUTUBE, _youtube_id(video_id))
    raise UrlError(
        "not a YouTube video URL (expected /shorts/ID, /watch?v=ID, /embed/ID or youtu.be/ID; "
        "playlist, channel, handle and search pages name no single video)"
    )


def _youtube_id(value: str) -> str:
    """The canonical id: 11 base64url characters carry 66 bits of which a video id uses 64,
    so the last character's two low bits are always zero (it is one of A E I M Q U Y c g k o
    s w 0 4 8). YouTube ignores them; clearing them makes one video one id however it was
    written (yt-dlp reads `DJztXj2GPfl` as `DJztXj2GPfk` the same way)."""
    if not YOUTUBE_ID.match(value):
        raise UrlError("a YouTube video id is 11 letters, digits, '-' or '_'")
    last = _BASE64URL[_BASE64URL_INDEX[value[-1]] & ~3]
    return value[:-1] + last


def _parse_instagram_app_link(parts: SplitResult) -> PostRef:
    """`instagram://media?id=<media pk>`, the app's link to a post."""
    ids = parse_qs(parts.query).get("id", [])
    if (parts.hostname or "") != "media" or len(ids) != 1:
        raise UrlError("an instagram:// link names a post only as instagram://media?id=<id>")
    pk, _, _owner = ids[0].partition("_")
    if not (pk.isascii() and pk.isdigit()) or not (_owner == "" or _owner.isdigit()):
        raise UrlError("an Instagram media id is digits, optionally _ and the owner's digits")
    return PostRef(Platform.INSTAGRAM, _media_shortcode(int(pk)))


def _tiktok_id(value: str) -> str:
    """The canonical id: the decimal of its integer, without leading zeros, so that one
    video has one id however it was written."""
    if not TIKTOK_ID.match(value):
        raise UrlError("a TikTok video id is digits only")
    number = int(value)
    if not 0 < number < 2**64:
        raise UrlError("a TikTok video id is a positive 64-bit number")
    return str(number)


def _shortcode(value: str) -> str:
    """The canonical shortcode: a shortcode is its media id in base 64, where a leading 'A'
    is a leading zero, so 'ADUPTEST1' and 'DUPTEST1' are one post. A private post's longer
    code is its shortcode followed by 28 characters: the post is the shortcode's."""
    if not INSTAGRAM_SHORTCODE.match(value):
        raise UrlError("an Instagram shortcode is letters, digits, '-' and '_'")
    if len(value) > PRIVATE_SUFFIX:
        value = value[:-PRIVATE_SUFFIX]
    code = value.lstrip("A") or "A"
    if len(code) > SHORTCODE_MAX:
        raise UrlError(
            "an Instagram shortcode has at most 11 characters (a private post's link adds 28 "
            "more to them)"
        )
    return code


def _media_shortcode(media_pk: int) -> str:
    if not 0 < media_pk < 2**64:
        raise UrlError("an Instagram media id is a positive 64-bit number")
    return media_id_to_shortcode(media_pk)


def normalize_post_id(platform: Platform, post_id: str) -> str:
    """A bare id as given with `{"platform", "post_id"}`: TikTok's numeric id, a YouTube
    video id (11 characters), or an Instagram shortcode; an Instagram media id, numeric
    (`<media pk>`) or as the API writes it
    (`<media pk>_<owner pk>`), is turned into the shortcode of its media pk."""
    value = post_id.strip()
    if platform is Platform.TIKTOK:
        return _tiktok_id(value)
    if platform is Platform.YOUTUBE:
        return _youtube_id(value)
    if media_id := INSTAGRAM_MEDIA_ID.match(value):
        return _media_shortcode(int(media_id.group(1)))
    return _shortcode(value)


def shortcode_to_media_id(shortcode: str) -> int:
    """Instagram shortcodes are the media id in base 64 (alphabet A-Z a-z 0-9 - _)."""
    if not INSTAGRAM_SHORTCODE.match(shortcode):
        raise UrlError("an Instagram shortcode is letters, digits, '-' and '_'")
    value = 0
    for char in shortcode:
        value = value * 64 + _SHORTCODE_INDEX[char]
    return value


def media_id_to_shortcode(media_id: int) -> str:
    if media_id < 0:
        raise UrlError("a media id is not negative")
    chars = []
    while True:
        media_id, digit = divmod(media_id, 64)
        chars.append(_SHORTCODE_ALPHABET[digit])
        if media_id == 0:
            return "".join(reversed(chars))


def canonical_url(platform: Platform, post_id: str, handle: str | None = None) -> str:
    """The URL stored on a post and sent to providers that take URLs."""
    if platform is Platform.TIKTOK:
        return f"https://www.tiktok.com/@{handle or ''}/video/{post_id}"
    if platform is Platform.YOUTUBE:
        return f"https://www.youtube.com/shorts/{post_id}"
    return f"https://www.instagram.com/p/{post_id}/"
