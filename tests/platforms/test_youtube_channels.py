"""channels.list for a YouTube channel's @handle (app/platforms/youtube_channels.py): the
handle is `snippet.customUrl` without its `@`; a legacy custom URL (no `@`, as an answer of
2021 for the NFL's channel shows: `"customUrl": "nfl"`) or none is no handle; a channel left
out is absent; the videos.list errors are typed the same; the sandbox answers in these shapes
and renames channels on request."""

import json

import httpx
import pytest

from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.http import Reply
from app.platforms.retry import Retrier, RetryPolicy
from app.platforms.sandbox import Sandbox
from app.platforms.sandbox.accounts import channel_id
from app.platforms.youtube_channels import ChannelPage, YouTubeChannels, parse_channels
from tests.platforms.conftest import SAMPLES, SANDBOX_URL

YOUTUBE = SAMPLES / "provider_samples" / "youtube"


def answer(*items: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "kind": "youtube#channelListResponse",
            "etag": "x",
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
            "items": list(items),
        }
    ).encode()


def channel(cid: str, custom_url: str | None) -> dict[str, object]:
    snippet: dict[str, object] = {"title": "A channel", "publishedAt": "2014-12-14T02:07:35Z"}
    if custom_url is not None:
        snippet["customUrl"] = custom_url
    return {"kind": "youtube#channel", "etag": "e", "id": cid, "snippet": snippet}


def test_the_handle_is_the_custom_url_without_its_at() -> None:
    read = parse_channels(
        Reply(
            200,
            answer(
                channel("UCDVYQ4Zhbm3S2dlz7P1GBDg", "@nfl"),
                channel("UCaaaaaaaaaaaaaaaaaaaaaa", "nfl"),  # a legacy custom URL
                channel("UCbbbbbbbbbbbbbbbbbbbbbb", None),
                channel("UCcccccccccccccccccccccc", "@bad handle"),
            ),
        )
    )
    assert read == ChannelPage(
        {
            "UCDVYQ4Zhbm3S2dlz7P1GBDg": "nfl",
            "UCaaaaaaaaaaaaaaaaaaaaaa": None,
            "UCbbbbbbbbbbbbbbbbbbbbbb": None,
            "UCcccccccccccccccccccccc": None,
        }
    )


def test_an_answer_that_found_no_channel_leaves_items_out() -> None:
    body = b'{"kind": "youtube#channelListResponse", "pageInfo": {"totalResults": 0}}'
    assert parse_channels(Reply(200, body)) == ChannelPage({})


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("http403_quota_exceeded.json", 403, FetchErrorKind.QUOTA_EXHAUSTED),
        ("http400_key_invalid.json", 400, FetchErrorKind.AUTH),
    ],
)
def test_errors_are_typed_as_for_videos(name: str, status: int, kind: FetchErrorKind) -> None:
    read = parse_channels(Reply(status, (YOUTUBE / name).read_bytes()))
    assert isinstance(read, FetchError)
    assert read.kind is kind


@pytest.mark.parametrize(
    "body", [b"<html>", b'{"kind": "youtube#videoListResponse", "items": []}', b'{"items": {}}']
)
def test_shape_surprises_are_upstream(body: bytes) -> None:
    read = parse_channels(Reply(200, body))
    assert isinstance(read, FetchError)
    assert read.kind is FetchErrorKind.UPSTREAM


async def test_the_sandbox_answers_channels_and_renames_them(http: httpx.AsyncClient) -> None:
    sandbox: Sandbox = http._transport.app.state.sandbox  # type: ignore[attr-defined]
    reader = YouTubeChannels(http, SANDBOX_URL, "some-key", Retrier(RetryPolicy(max_attempts=1)))
    ids = [channel_id(n) for n in ("plain_1", "nohandle_1", "missing_1")]
    assert await reader.handles(ids) == ChannelPage(
        {channel_id("plain_1"): "plain_1", channel_id("nohandle_1"): None}
    )
    renamed = await http.post("/__sandbox/channels", json={channel_id("plain_1"): "@fresh"})
    assert renamed.json() == {"handles": {channel_id("plain_1"): "fresh"}}
    assert await reader.handles(ids[:1]) == ChannelPage({channel_id("plain_1"): "fresh"})
    assert sandbox.channel_handle(channel_id("plain_1")) == "fresh"
    refused = await http.post("/__sandbox/channels", json={"not-a-channel": "x"})
    assert refused.status_code == 400
    with pytest.raises(ValueError, match="1 to 50"):
        await reader.handles([channel_id("plain_1")] * 51)
