"""Provider answers served in-process, so the pipeline figure is the engine's own cost.

The bodies are the sandbox's real-shape answers (`app.platforms.sandbox.answers`: tikwm for the
TikTok primary, the GraphQL post for Instagram), rendered once into bytes for a pool of
synthetic videos; an `httpx.MockTransport` hands post i the body of pool slot i % size. The
engine still builds every request, goes through httpx, the retry policy and the parsers: only
the socket and the provider's own work are gone."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from app.domain.enums import Platform
from app.platforms.sandbox import answers
from app.platforms.sandbox.videos import start_of_day, synthetic_video

POOL_SIZE = 1000
_TIKTOK_ID = re.compile(rb"video%2F(\d+)")
_SHORTCODE = re.compile(rb"%2Fp%2FCx(\d+)")  # in the query as the engine encodes it
TIKTOK_ID_BASE = 10_000


def tiktok_id(i: int) -> str:
    return str(TIKTOK_ID_BASE + i)


def instagram_shortcode(i: int) -> str:
    return f"Cx{i:09d}"


def youtube_video_id(i: int) -> str:
    return f"Yt{i:08d}A"  # as bench.refresh_seed.POST_SQL writes it


def post_id(platform: Platform, i: int) -> str:
    if platform is Platform.YOUTUBE:
        return youtube_video_id(i)
    return tiktok_id(i) if platform is Platform.TIKTOK else instagram_shortcode(i)


@dataclass(frozen=True)
class Slot:
    body: bytes
    handle: str
    user_id: str


def _dumps(value: object) -> bytes:
    # What Starlette's JSONResponse sends.
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def build_pool(
    platform: Platform, size: int = POOL_SIZE, now: datetime | None = None
) -> list[Slot]:
    """The answers for ids 0..size-1, exactly as the sandbox would give them now."""
    now = now or datetime.now(UTC)
    anchor = start_of_day(now)
    slots = []
    for i in range(size):
        video = synthetic_video(platform, post_id(platform, i), anchor)
        counts = video.counts_at(now)
        if platform is Platform.YOUTUBE:  # one item; a batch's answer lists several
            body: object = answers.youtube_item(video, counts)
        elif platform is Platform.TIKTOK:
            body = answers.tikwm_ok(video, counts)
        else:
            body = answers.instagram_video(video, counts)
        slots.append(Slot(_dumps(body), video.handle, video.user_id))
    return slots


class InProcessProviders:
    """The TikTok primary (`POST /api/`) and Instagram (`GET /v1/instagram/post`) endpoints."""

    def __init__(self, pool_size: int = POOL_SIZE) -> None:
        self.tiktok = build_pool(Platform.TIKTOK, pool_size)
        self.instagram = build_pool(Platform.INSTAGRAM, pool_size)
        self.requests = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        match asked(request):
            case (Platform.TIKTOK, g):
                return json_answer(self.tiktok[g % len(self.tiktok)].body)
            case (Platform.INSTAGRAM, g):
                return json_answer(self.instagram[g % len(self.instagram)].body)
        return httpx.Response(404, content=b'{"message":"not found"}')

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def asked(request: httpx.Request) -> tuple[Platform, int] | None:
    """Which synthetic post an in-process request asks for, as (platform, i): the TikTok
    primary's `POST /api/` names the video in its form, Instagram's `GET /v1/instagram/post`
    the shortcode in its query (both as the engine encodes them)."""
    path = request.url.path
    if path == "/api/" and (tiktok := _TIKTOK_ID.search(request.content)):
        return Platform.TIKTOK, int(tiktok.group(1)) - TIKTOK_ID_BASE
    if path == "/v1/instagram/post" and (shortcode := _SHORTCODE.search(request.url.query)):
        return Platform.INSTAGRAM, int(shortcode.group(1))
    return None


def json_answer(body: bytes) -> httpx.Response:
    # Built as the providers' transport builds the answers it reads (app/platforms/
    # transport.py): the headers as they came, the body whole. `content=` would encode it and
    # its headers again: 11.7 µs an answer against 2.2, in the engine's process (issue 24).
    return httpx.Response(
        200,
        headers=[(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        stream=httpx.ByteStream(body),
    )
