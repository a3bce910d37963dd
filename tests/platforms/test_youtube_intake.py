"""YouTube intake: the URL forms people paste and the bare 11-character id all give one
canonical id; playlist, channel and search pages are refused; a YouTube creator is named by
their channel id. (Real URLs from yt-dlp's tests are in real_urls.csv.)"""

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.enums import Platform
from app.platforms.urls import PostRef, UrlError, canonical_url, normalize_post_id, parse_video_url
from tests import factories as f

# Canonical ids: 10 free characters and a last one with its two low bits zero.
youtube_ids = st.builds(
    lambda head, last: head + last,
    st.from_regex(r"[A-Za-z0-9_-]{10}", fullmatch=True),
    st.sampled_from("AEIMQUYcgkosw048"),
)
forms = st.sampled_from(
    [
        "https://www.youtube.com/shorts/{id}",
        "https://youtube.com/shorts/{id}?feature=share",
        "youtube.com/shorts/{id}",
        "https://m.youtube.com/shorts/{id}",
        "https://youtu.be/{id}",
        "https://youtu.be/{id}?si=AbCdEf",
        "https://www.youtube.com/watch?v={id}",
        "https://m.youtube.com/watch?v={id}&feature=youtu.be",
        "https://www.youtube.com/watch?app=desktop&v={id}&list=PL123",
        "https://www.youtube.com/embed/{id}?autoplay=1",
        "https://www.youtube-nocookie.com/embed/{id}",
        "https://music.youtube.com/watch?v={id}",
        "http://www.youtube.com/v/{id}",
        "https://www.youtube.com/live/{id}",
    ]
)


@given(video_id=youtube_ids, form=forms)
def test_every_youtube_form_gives_the_id(video_id: str, form: str) -> None:
    assert parse_video_url(form.format(id=video_id)) == PostRef(Platform.YOUTUBE, video_id)
    assert parse_video_url(canonical_url(Platform.YOUTUBE, video_id)) == PostRef(
        Platform.YOUTUBE, video_id
    )
    assert normalize_post_id(Platform.YOUTUBE, f" {video_id} ") == video_id


def test_ids_keep_their_case_and_one_video_has_one_id() -> None:
    assert normalize_post_id(Platform.YOUTUBE, "dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert normalize_post_id(Platform.YOUTUBE, "DQW4W9WGXCQ") == "DQW4W9WGXCQ"
    # The last character carries two unused bits: Q, R, S and T name one video.
    assert {normalize_post_id(Platform.YOUTUBE, f"dQw4w9WgXc{c}") for c in "QRST"} == {
        "dQw4w9WgXcQ"
    }


@pytest.mark.parametrize(
    "text",
    [
        "https://www.youtube.com/playlist?list=PLBB231211A4F62143",
        "https://www.youtube.com/@NotJustBikes",
        "https://www.youtube.com/@NotJustBikes/shorts",
        "https://www.youtube.com/channel/UC0intLFzLaudFG-xAvUEO-A",
        "https://www.youtube.com/c/3blue1brown",
        "https://www.youtube.com/results?search_query=shorts",
        "https://www.youtube.com/shorts/",
        "https://www.youtube.com/shorts/tooshort",
        "https://www.youtube.com/shorts/twelve_chars",
        "https://www.youtube.com/watch",
        "https://www.youtube.com/embed/videoseries?list=PL6IaIsEjSbf96XFRuNccS_RuEXwNdsoEu",
        "https://youtu.be/",
        "https://youtu.be/a/b",
    ],
)
def test_pages_that_name_no_single_video_are_refused(text: str) -> None:
    with pytest.raises(UrlError):
        parse_video_url(text)


@pytest.mark.parametrize("bad", ["dQw4w9WgXc", "dQw4w9WgXcQQ", "dQw4w9WgX*Q", ""])
def test_bare_ids_that_are_not_11_base64url_characters_are_refused(bad: str) -> None:
    with pytest.raises(UrlError):
        normalize_post_id(Platform.YOUTUBE, bad)


async def test_a_youtube_creator_is_named_by_channel_id(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/creators", json={"platform": "youtube", "handle": "x-y"})
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "channel id" in missing.text
    not_a_channel = await client.post(
        "/v1/creators",
        json={"platform": "youtube", "handle": "x-y", "platform_user_id": "12345"},
    )
    assert not_a_channel.status_code == 422
    made = await f.youtube_creator(client, "@Mia-Moves", "UCBR8-60-B28hp2BmDPdntcQ")
    assert (made["platform"], made["handle"], made["platform_user_id"]) == (
        "youtube",
        "Mia-Moves",
        "UCBR8-60-B28hp2BmDPdntcQ",
    )
    # '-' is a YouTube handle's character only.
    tiktok = await client.post("/v1/creators", json={"platform": "tiktok", "handle": "mia-moves"})
    assert tiktok.status_code == 422


async def test_a_shorts_url_and_its_bare_id_are_one_post(client: httpx.AsyncClient) -> None:
    c = await f.campaign(client)
    t = await f.tier(client, c["id"])
    creator = await f.youtube_creator(client)
    await f.member(client, c["id"], creator["id"], t["id"])
    post = await f.post(
        client,
        c["id"],
        url="https://youtube.com/shorts/18NGQq7p3LY?feature=share",
        creator_id=creator["id"],
    )
    assert (post["platform"], post["platform_post_id"], post["url"]) == (
        "youtube",
        "18NGQq7p3LY",
        "https://www.youtube.com/shorts/18NGQq7p3LY",
    )
    for body in (
        {"platform": "youtube", "platform_post_id": "18NGQq7p3LY"},
        {"url": "https://youtu.be/18NGQq7p3LY"},
        {"url": "https://www.youtube.com/watch?v=18NGQq7p3LY&list=PL1"},
    ):
        again = await client.post(
            f"/v1/campaigns/{c['id']}/posts", json={**body, "creator_id": creator["id"]}
        )
        assert (again.status_code, again.json()["code"]) == (409, "post_exists"), body
    playlist = await client.post(
        f"/v1/campaigns/{c['id']}/posts",
        json={"url": "https://www.youtube.com/playlist?list=PLBB231211A4F62143"},
    )
    assert (playlist.status_code, playlist.json()["code"]) == (422, "invalid_url")
