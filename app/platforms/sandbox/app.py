"""The sandbox as a Starlette app: the three provider endpoints, the short-link hosts, and
an admin surface under /__sandbox for tests and fault drills."""

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Host, Route, Router

from app.domain.enums import Platform
from app.platforms.sandbox import accounts, answers
from app.platforms.sandbox.discord import FakeDiscord
from app.platforms.sandbox.magic import BAD_KEY, UNSUBSCRIBED_KEY, Magic, magic_of
from app.platforms.sandbox.mail import MailSink
from app.platforms.sandbox.videos import (
    SHORT_LINK_AUTHORS,
    SyntheticVideo,
    short_link_shortcode,
    short_link_tiktok_id,
    start_of_day,
    user_id,
    video_at,
)
from app.platforms.urls import YOUTUBE_CHANNEL_ID as _CHANNEL_ID
from app.platforms.urls import PostRef, UrlError, parse_video_url

log = logging.getLogger(__name__)

Provider = Literal["tiktok_primary", "tiktok_backup", "instagram", "youtube"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
# What a provider can be told to do to every request, regardless of the id.
FAULTS = ("500", "503", "429", "timeout", "malformed", "not_found", "quota")
SHORT_LINK_HOSTS = ("vm.tiktok.com", "vt.tiktok.com", "www.tiktok.com", "www.instagram.com")
SHORT_LINK_TARGET_HANDLE = SHORT_LINK_AUTHORS[Platform.TIKTOK]
EVIL_LOCATION = "https://evil.example.com/"
PACIFIC = ZoneInfo("America/Los_Angeles")  # where YouTube's daily quota resets


@dataclass
class Faults:
    tiktok_primary: str | None = None
    tiktok_backup: str | None = None
    instagram: str | None = None
    youtube: str | None = None
    latency_ms: int = 0  # added to every provider answer

    def of(self, provider: Provider) -> str | None:
        value: str | None = getattr(self, provider)
        return value


@dataclass(frozen=True)
class LoggedRequest:
    provider: str  # a Provider, or "shortlink"
    video_id: str | None
    method: str
    path: str
    host: str
    at: datetime  # the sandbox clock
    monotonic: float  # for measuring spacing between requests

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "at": self.at.isoformat()}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Sandbox:
    """State and behaviour; `create_app` wraps it in routes. Everything that makes tests
    deterministic is injectable: the clock, the anchor the synthetic videos are dated
    from, and every delay."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        anchor: datetime | None = None,
        slow_seconds: float = 15.0,
        retry_after_seconds: int = 2,
        flaky_failures: int = 2,
        log_limit: int = 10_000,
        youtube_daily_units: int | None = None,
    ) -> None:
        self._now = now
        self._monotonic = monotonic
        self.offset = timedelta(0)
        self.anchor = anchor or start_of_day(now())
        self.slow_seconds = slow_seconds
        self.retry_after_seconds = retry_after_seconds
        self.flaky_failures = flaky_failures
        self.faults = Faults()
        self.requests: deque[LoggedRequest] = deque(maxlen=log_limit)
        self._flaky_seen: Counter[tuple[str, str]] = Counter()
        # Posts an account listing showed: (platform, id) -> (account handle, post index).
        self.listed: dict[tuple[Platform, str], tuple[str, int]] = {}
        # Calls per (key, Pacific day): past `youtube_daily_units`, 403 quotaExceeded.
        self.youtube_daily_units = youtube_daily_units
        self.youtube_units: Counter[tuple[str, str]] = Counter()
        # Channels renamed by hand (`rename_channel`): channel id -> handle (None: none).
        self.channel_handles: dict[str, str | None] = {}

    def now(self) -> datetime:
        return self._now() + self.offset

    def video(self, platform: Platform, post_id: str) -> SyntheticVideo:
        """The video as the sandbox describes it now (a RENAMES author's handle follows the
        clock; a post an account listing showed names that account)."""
        listed = self.listed.get((platform, post_id))
        if listed is not None:
            handle, index = listed
            return accounts.post_at(platform, handle, index, self.anchor, self.now()).video
        return video_at(platform, post_id, self.anchor, self.now())

    # Account listings (watched accounts; app/platforms/sandbox/accounts.py)

    def _account_page(
        self, platform: Platform, handle: str, cursor: str | None, size: int
    ) -> tuple[list[accounts.AccountPost], str | None, bool]:
        everything = accounts.posts(platform, handle, self.anchor, self.now())
        chosen, next_cursor, more = accounts.page(everything, cursor, size)
        for post in chosen:
            self.listed[platform, post.video.post_id] = (handle, post.index)
        return chosen, next_cursor, more

    async def tiktok_user_posts(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        handle = form.get("unique_id", [""])[0].strip().removeprefix("@")
        key = request.headers.get("x-rapidapi-key")
        if (early := await self._gate("tiktok_primary", request, handle, key)) is not None:
            return early
        if not handle:
            return JSONResponse(answers.tikwm_error("unique_id is required"))
        if accounts.is_missing(handle):
            return JSONResponse(answers.tikwm_error(accounts.MISSING_MESSAGE))
        if accounts.is_private(handle):
            return JSONResponse(answers.tikwm_error(accounts.PRIVATE_MESSAGE))
        count = form.get("count", ["30"])[0]
        size = min(int(count), accounts.TIKTOK_PAGE_MAX) if count.isdigit() and count != "0" else 30
        cursor = form.get("cursor", [None])[0]
        chosen, next_cursor, more = self._account_page(Platform.TIKTOK, handle, cursor, size)
        return JSONResponse(accounts.tikwm_posts(chosen, self.now(), next_cursor, more))

    async def instagram_reels(self, request: Request) -> Response:
        handle = request.query_params.get("username", "").strip().removeprefix("@")
        key = request.headers.get("x-api-key")
        if (early := await self._gate("instagram", request, handle, key)) is not None:
            return early
        if not handle:
            return JSONResponse(answers.gateway_message("username is required"), 400)
        if accounts.is_missing(handle):
            return JSONResponse(accounts.instagram_missing())
        if accounts.is_private(handle):
            uid = user_id(Platform.INSTAGRAM, handle)
            return JSONResponse(accounts.instagram_private(handle, uid))
        cursor = request.query_params.get("cursor")
        chosen, next_cursor, more = self._account_page(
            Platform.INSTAGRAM, handle, cursor, accounts.INSTAGRAM_PAGE
        )
        return JSONResponse(accounts.instagram_reels(handle, chosen, self.now(), next_cursor, more))

    async def youtube_playlist_items(self, request: Request) -> Response:
        """playlistItems.list of a channel's uploads playlist: one unit a page, newest first,
        up to 50 a page (`maxResults`), `pageToken` for the next."""
        playlist = request.query_params.get("playlistId", "")
        key = request.query_params.get("key") or ""
        if (early := await self._gate("youtube", request, playlist, None)) is not None:
            return early
        if key == BAD_KEY:
            return JSONResponse(answers.youtube_key_invalid(), 400)
        if self._youtube_quota_spent(key):
            return JSONResponse(answers.youtube_quota_exceeded(), 403)
        channel = accounts.channel_of_playlist(playlist)
        if channel is None or accounts.is_missing(channel):
            message = (
                "The playlist identified with the request's <code>playlistId</code> "
                "parameter cannot be found."
            )
            return JSONResponse(
                answers.youtube_error(404, "playlistNotFound", message, "youtube.playlistItem"),
                404,
            )
        wanted = request.query_params.get("maxResults", "5")
        size = min(int(wanted), accounts.YOUTUBE_PAGE_MAX) if wanted.isdigit() else 5
        everything = accounts.posts(Platform.YOUTUBE, channel, self.anchor, self.now())
        chosen, next_token, more = self._account_page(
            Platform.YOUTUBE, channel, request.query_params.get("pageToken"), max(size, 1)
        )
        return JSONResponse(
            accounts.youtube_playlist_items(
                playlist, chosen, next_token if more else None, len(everything)
            )
        )

    def rename_channel(self, channel: str, handle: str | None) -> None:
        """From now on channels.list gives the channel this handle (without its @; None: no
        handle at all), whatever its name says."""
        self.channel_handles[channel] = handle

    def channel_handle(self, channel: str) -> str | None:
        if channel in self.channel_handles:
            return self.channel_handles[channel]
        return accounts.channel_handle(channel, self.anchor, self.now())

    async def _youtube_ids(self, request: Request) -> tuple[list[str], Response | None]:
        """A YouTube Data API call's ids (`id=a,b,...`), or the answer that refuses it first:
        the sandbox's gate (faults, pacing), a bad key, the day's quota spent, no ids or more
        than 50. videos.list and channels.list check alike."""
        ids = [i for i in request.query_params.get("id", "").split(",") if i]
        key = request.query_params.get("key") or ""
        if (early := await self._gate("youtube", request, ",".join(ids), None)) is not None:
            return ids, early
        if key == BAD_KEY:
            return ids, JSONResponse(answers.youtube_key_invalid(), 400)
        if self._youtube_quota_spent(key):
            return ids, JSONResponse(answers.youtube_quota_exceeded(), 403)
        if not ids or len(ids) > 50:
            message = "No filter selected." if not ids else "Too many ids (at most 50)."
            error = answers.youtube_error(400, "badRequest", message, "youtube")
            return ids, JSONResponse(error, 400)
        return ids, None

    async def youtube_channels(self, request: Request) -> Response:
        """channels.list?part=snippet&id=UC...,...: up to 50 channel ids, one unit a call.
        Every well-formed channel id is a channel except `missing_` ones (left out)."""
        ids, refused = await self._youtube_ids(request)
        if refused is not None:
            return refused
        found = [
            (channel, self.channel_handle(channel))
            for channel in dict.fromkeys(ids)
            if _CHANNEL_ID.match(channel) and not accounts.is_missing(channel)
        ]
        return JSONResponse(accounts.youtube_channels(found))

    async def get_channels(self, request: Request) -> Response:
        return JSONResponse({"handles": self.channel_handles})

    async def set_channels(self, request: Request) -> Response:
        """{"UC...": "newhandle" | null, ...}: rename channels (see `rename_channel`)."""
        try:
            changes = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body must be JSON"}, 400)
        if not isinstance(changes, dict) or not all(
            isinstance(c, str) and _CHANNEL_ID.match(c) and (h is None or isinstance(h, str))
            for c, h in changes.items()
        ):
            return JSONResponse(
                {"detail": 'send {"<channel id>": "<handle without @>" or null, ...}'}, 400
            )
        for channel, handle in changes.items():
            self.rename_channel(channel, None if handle is None else handle.removeprefix("@"))
        return JSONResponse({"handles": self.channel_handles})

    async def clear_channels(self, request: Request) -> Response:
        self.channel_handles.clear()
        return Response(status_code=204)

    def _youtube_quota_spent(self, key: str) -> bool:
        """Counts a call against the key's day (when the sandbox has a daily limit)."""
        if self.youtube_daily_units is None:
            return False
        day = (key, self.now().astimezone(PACIFIC).date().isoformat())
        self.youtube_units[day] += 1
        return self.youtube_units[day] > self.youtube_daily_units

    # Provider endpoints

    async def tiktok_primary(self, request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        video_id = _post_id(Platform.TIKTOK, form.get("url", [""])[0])
        key = request.headers.get("x-rapidapi-key")
        if (early := await self._gate("tiktok_primary", request, video_id, key)) is not None:
            return early
        if video_id is None:
            return JSONResponse(answers.tikwm_error(answers.URL_PARSING_FAILED))
        magic = magic_of(Platform.TIKTOK, video_id)
        if (early := await self._common_magic("tiktok_primary", magic, video_id)) is not None:
            return early
        match magic:
            case (
                Magic.DELETED
                | Magic.PRIVATE_POST
                | Magic.PRIVATE_ACCOUNT
                | Magic.WITHHELD
                | Magic.UNDER_REVIEW
            ):
                return self._not_found("tiktok_primary", video_id)
            case Magic.FREE_API_LIMIT:
                return JSONResponse(answers.tikwm_error(answers.FREE_API_LIMIT))
            case Magic.QUOTA_EXHAUSTED:
                return JSONResponse(answers.tikwm_error(answers.FREE_API_DAILY_LIMIT))
            case Magic.PRIMARY_DOWN:
                return _error_page(503)
        video = self.video(Platform.TIKTOK, video_id)
        return JSONResponse(answers.tikwm_ok(video, video.counts_at(self.now())))

    async def tiktok_backup(self, request: Request) -> Response:
        video_id = request.query_params.get("videoId")
        key = request.headers.get("x-rapidapi-key")
        if (early := await self._gate("tiktok_backup", request, video_id, key)) is not None:
            return early
        now = self.now()
        if not video_id:
            return JSONResponse(answers.gateway_message("videoId is required"), 400)
        if not video_id.isdigit():
            return JSONResponse(answers.detail_status(video_id, 10204, now))
        magic = magic_of(Platform.TIKTOK, video_id)
        if (early := await self._common_magic("tiktok_backup", magic, video_id)) is not None:
            return early
        status = {Magic.DELETED: 10204, Magic.PRIVATE_POST: 10216, Magic.PRIVATE_ACCOUNT: 10222}
        if magic in status:
            return JSONResponse(answers.detail_status(video_id, status[magic], now))
        reasons = {
            Magic.WITHHELD: answers.WITHHELD_CROSS_BORDER,
            Magic.UNDER_REVIEW: answers.UNDER_REVIEW_AUTHOR,
        }
        if magic in reasons:
            return JSONResponse(answers.detail_status(video_id, 10204, now, reasons[magic]))
        video = self.video(Platform.TIKTOK, video_id)
        return JSONResponse(answers.detail_ok(video, video.counts_at(now), now))

    async def instagram(self, request: Request) -> Response:
        shortcode = _post_id(Platform.INSTAGRAM, request.query_params.get("url", ""))
        key = request.headers.get("x-api-key")
        if (early := await self._gate("instagram", request, shortcode, key)) is not None:
            return early
        if shortcode is None:
            return JSONResponse(answers.gateway_message("url is not an Instagram post"), 400)
        magic = magic_of(Platform.INSTAGRAM, shortcode)
        if (early := await self._common_magic("instagram", magic, shortcode)) is not None:
            return early
        video = self.video(Platform.INSTAGRAM, shortcode)
        counts = video.counts_at(self.now())
        match magic:
            case Magic.DELETED | Magic.PRIVATE_POST | Magic.PRIVATE_ACCOUNT:
                return self._not_found("instagram", shortcode)
            case Magic.LOGIN_REQUIRED:
                return JSONResponse(answers.instagram_require_login(), 401)
            case Magic.CAROUSEL:
                return JSONResponse(answers.instagram_carousel(video, counts))
            case Magic.PHOTO:
                return JSONResponse(answers.instagram_photo(video, counts))
            case Magic.LEGACY_SHAPE:
                return JSONResponse(answers.instagram_legacy_video(video, counts))
        return JSONResponse(answers.instagram_video(video, counts))

    async def youtube(self, request: Request) -> Response:
        """videos.list: up to 50 ids, one unit a call whatever it answers."""
        ids, refused = await self._youtube_ids(request)
        if refused is not None:
            return refused
        magic = {i: magic_of(Platform.YOUTUBE, i) for i in ids}
        if Magic.QUOTA_EXHAUSTED in magic.values():
            return JSONResponse(answers.youtube_quota_exceeded(), 403)
        if Magic.KEY_INVALID in magic.values():
            return JSONResponse(answers.youtube_key_invalid(), 400)
        for video_id, kind in magic.items():
            if (early := await self._common_magic("youtube", kind, video_id)) is not None:
                return early
        items = []
        for video_id in dict.fromkeys(ids):
            if magic[video_id] in (Magic.DELETED, Magic.PRIVATE_POST):
                continue
            video = self.video(Platform.YOUTUBE, video_id)
            hidden = magic[video_id] is Magic.LIKES_HIDDEN
            items.append(
                answers.youtube_item(video, video.counts_at(self.now()), likes_hidden=hidden)
            )
        return JSONResponse(answers.youtube_list(items))

    async def _gate(
        self, provider: Provider, request: Request, video_id: str | None, key: str | None
    ) -> Response | None:
        """What happens before the provider looks at the id: the log, added latency, the
        gateway's key check and any global fault."""
        self.requests.append(
            LoggedRequest(
                provider=provider,
                video_id=video_id,
                method=request.method,
                path=request.url.path,
                host=request.headers.get("host", ""),
                at=self.now(),
                monotonic=self._monotonic(),
            )
        )
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        if key == BAD_KEY:
            message = "Invalid API key" if provider == "instagram" else None
            return JSONResponse(
                answers.gateway_message(message or answers.RAPIDAPI_INVALID_KEY), 401
            )
        if key == UNSUBSCRIBED_KEY:
            return JSONResponse(answers.gateway_message(answers.RAPIDAPI_NOT_SUBSCRIBED), 403)
        match self.faults.of(provider):
            case "500" | "503" as status:
                return _error_page(int(status))
            case "429":
                return self._rate_limited(provider)
            case "malformed":
                return self._malformed(provider, video_id or "")
            case "not_found":
                return self._not_found(provider, video_id or "")
            case "quota":
                # tikwm's daily free limit; the paid APIs have no daily quota, only 429s.
                if provider == "tiktok_primary":
                    return JSONResponse(answers.tikwm_error(answers.FREE_API_DAILY_LIMIT))
                return self._rate_limited(provider)
            case "timeout":
                await asyncio.sleep(self.slow_seconds)
        return None

    async def _common_magic(
        self, provider: Provider, magic: Magic | None, video_id: str
    ) -> Response | None:
        """The magic ids every provider treats alike."""
        match magic:
            case Magic.SLOW:
                await asyncio.sleep(self.slow_seconds)
            case Magic.SERVER_ERROR:
                return _error_page(500)
            case Magic.RATE_LIMITED:
                return self._rate_limited(provider)
            case Magic.MALFORMED:
                return self._malformed(provider, video_id)
            case Magic.FLAKY:
                self._flaky_seen[provider, video_id] += 1
                if self._flaky_seen[provider, video_id] <= self.flaky_failures:
                    return _error_page(502)
        return None

    def _rate_limited(self, provider: Provider) -> Response:
        retry_after = {"retry-after": str(self.retry_after_seconds)}
        if provider == "youtube":
            return JSONResponse(answers.youtube_rate_limited(), 403, headers=retry_after)
        body = (
            answers.instagram_rate_limited()
            if provider == "instagram"
            else answers.gateway_message(answers.RAPIDAPI_RATE_LIMIT)
        )
        return JSONResponse(body, 429, headers=retry_after)

    def _not_found(self, provider: Provider, video_id: str) -> Response:
        if provider == "tiktok_primary":
            return JSONResponse(answers.tikwm_error(answers.URL_PARSING_FAILED))
        if provider == "tiktok_backup":
            return JSONResponse(answers.detail_status(video_id, 10204, self.now()))
        if provider == "youtube":
            return JSONResponse(answers.youtube_list([]))
        return JSONResponse(answers.instagram_missing())

    def _malformed(self, provider: Provider, video_id: str) -> Response:
        if provider == "tiktok_primary":
            return Response(answers.TRUNCATED_JSON, 200, media_type="application/json")
        if provider == "tiktok_backup":
            return JSONResponse(answers.detail_empty_item(video_id, self.now()))
        return Response(answers.INSTAGRAM_LOGIN_PAGE, 200, media_type="text/html")

    # Short links

    async def short_link(self, request: Request) -> Response:
        host = (request.url.hostname or "").lower()
        segments = [s for s in request.url.path.split("/") if s]
        code: str | None = None
        if host in ("vm.tiktok.com", "vt.tiktok.com") and len(segments) == 1:
            code = segments[0]
        elif host == "www.tiktok.com" and len(segments) == 2 and segments[0] == "t":
            code = segments[1]
        elif host == "www.instagram.com" and len(segments) >= 2 and segments[0] == "share":
            code = segments[-1]
        self.requests.append(
            LoggedRequest(
                provider="shortlink",
                video_id=code,
                method=request.method,
                path=request.url.path,
                host=host,
                at=self.now(),
                monotonic=self._monotonic(),
            )
        )
        if code is None:
            return Response("Not Found", 404)
        if code == "LOOP":
            location = str(request.url)
        elif code == "EVIL":
            location = EVIL_LOCATION
        elif host.endswith("tiktok.com"):
            video_id = short_link_tiktok_id(code)
            location = f"https://www.tiktok.com/@{SHORT_LINK_TARGET_HANDLE}/video/{video_id}"
        else:
            location = f"https://www.instagram.com/reel/{short_link_shortcode(code)}/"
        return Response(status_code=301, headers={"location": location})

    # Admin

    async def get_faults(self, request: Request) -> Response:
        return JSONResponse(asdict(self.faults))

    async def set_faults(self, request: Request) -> Response:
        try:
            changes = await request.json()
        except ValueError:
            return JSONResponse({"detail": "body must be JSON"}, 400)
        if not isinstance(changes, dict):
            return JSONResponse({"detail": "body must be a JSON object"}, 400)
        known = {f.name for f in fields(Faults)}
        for name, value in changes.items():
            if name not in known:
                return JSONResponse({"detail": f"unknown fault {name!r}"}, 400)
            if name == "latency_ms":
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    return JSONResponse({"detail": "latency_ms is a non-negative int"}, 400)
            elif value is not None and value not in FAULTS:
                return JSONResponse({"detail": f"{name} must be one of {FAULTS} or null"}, 400)
        for name, value in changes.items():
            setattr(self.faults, name, value)
        return JSONResponse(asdict(self.faults))

    async def clear_faults(self, request: Request) -> Response:
        self.faults = Faults()
        return JSONResponse(asdict(self.faults))

    async def get_requests(self, request: Request) -> Response:
        provider = request.query_params.get("provider")
        video_id = request.query_params.get("video_id")
        entries = [
            entry.to_json()
            for entry in self.requests
            if (provider is None or entry.provider == provider)
            and (video_id is None or entry.video_id == video_id)
        ]
        return JSONResponse({"requests": entries})

    async def clear_requests(self, request: Request) -> Response:
        self.requests.clear()
        return Response(status_code=204)

    async def get_clock(self, request: Request) -> Response:
        return JSONResponse(self._clock_json())

    async def set_clock(self, request: Request) -> Response:
        try:
            body = await request.json()
            if "offset_seconds" in body:
                self.offset = timedelta(seconds=float(body["offset_seconds"]))
            if "advance_seconds" in body:
                self.offset += timedelta(seconds=float(body["advance_seconds"]))
        except (ValueError, TypeError):
            return JSONResponse(
                {"detail": 'send {"offset_seconds": N} and/or {"advance_seconds": N}'}, 400
            )
        return JSONResponse(self._clock_json())

    def _clock_json(self) -> dict[str, object]:
        return {
            "now": self.now().isoformat(),
            "offset_seconds": self.offset.total_seconds(),
            "anchor": self.anchor.isoformat(),
        }

    async def describe_video(self, request: Request) -> Response:
        """What the sandbox will say about an id, for demos and for tests' expectations."""
        try:
            platform = Platform(request.path_params["platform"])
        except ValueError:
            return JSONResponse({"detail": "platform is tiktok, instagram or youtube"}, 404)
        post_id: str = request.path_params["post_id"]
        video = self.video(platform, post_id)
        magic = magic_of(platform, post_id)
        return JSONResponse(
            {
                "platform": platform.value,
                "post_id": post_id,
                "handle": video.handle,
                "user_id": video.user_id,
                "created_at": video.created_at.isoformat(),
                "curve": video.curve.value,
                "magic": magic.value if magic else None,
                "stats": asdict(video.counts_at(self.now())),
            }
        )


def _post_id(platform: Platform, url: str) -> str | None:
    try:
        ref = parse_video_url(url)
    except UrlError:
        return None
    return ref.post_id if isinstance(ref, PostRef) and ref.platform is platform else None


def _error_page(status: int) -> Response:
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    page = answers.SERVER_ERROR_PAGE.format(status=status, reason=reason[status])
    return Response(page, status, media_type="text/html")


def create_app(
    sandbox: Sandbox | None = None,
    discord: FakeDiscord | None = None,
    mail: MailSink | None = None,
    smtp: tuple[str, int] | None = None,
) -> Starlette:
    """The ASGI app; the `Sandbox` it serves is `app.state.sandbox`, the fake Discord
    `app.state.discord`, the SMTP sink `app.state.mail` (listening at `smtp`, host and
    port, while the app runs, when given)."""
    sandbox = sandbox or Sandbox()
    discord = discord or FakeDiscord()
    mail = mail or MailSink()
    short_links = Router(routes=[Route("/{path:path}", sandbox.short_link)])
    routes: list[BaseRoute] = [Host(host, short_links) for host in SHORT_LINK_HOSTS]
    routes += [
        Route("/api/", sandbox.tiktok_primary, methods=["POST"]),
        Route("/api/post/detail", sandbox.tiktok_backup),
        Route("/api/user/posts", sandbox.tiktok_user_posts, methods=["POST"]),
        Route("/v1/instagram/reels", sandbox.instagram_reels),
        Route("/v1/instagram/post", sandbox.instagram),
        Route("/youtube/v3/videos", sandbox.youtube),
        Route("/youtube/v3/playlistItems", sandbox.youtube_playlist_items),
        Route("/youtube/v3/channels", sandbox.youtube_channels),
        Route("/__sandbox/channels", sandbox.get_channels),
        Route("/__sandbox/channels", sandbox.set_channels, methods=["POST"]),
        Route("/__sandbox/channels", sandbox.clear_channels, methods=["DELETE"]),
        Route("/__sandbox/faults", sandbox.get_faults),
        Route("/__sandbox/faults", sandbox.set_faults, methods=["POST"]),
        Route("/__sandbox/faults", sandbox.clear_faults, methods=["DELETE"]),
        Route("/__sandbox/requests", sandbox.get_requests),
        Route("/__sandbox/requests", sandbox.clear_requests, methods=["DELETE"]),
        Route("/__sandbox/clock", sandbox.get_clock),
        Route("/__sandbox/clock", sandbox.set_clock, methods=["POST"]),
        Route("/__sandbox/videos/{platform}/{post_id}", sandbox.describe_video),
        *discord.routes(),
        *mail.routes(),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if smtp is not None:
            try:
                await mail.start(*smtp)
            except OSError as exc:  # the port is taken (another sandbox): serve the rest
                log.warning(
                    "the SMTP sink is not listening: %s:%d is taken (%s); set "
                    "SANDBOX_SMTP_PORT or --smtp-port to another port",
                    *smtp,
                    exc.strerror,
                )
        try:
            yield
        finally:
            await mail.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    app.state.discord = discord
    app.state.mail = mail
    return app
