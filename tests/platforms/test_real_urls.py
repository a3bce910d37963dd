"""The URL and id parsers against real input: `real_urls.csv` holds URLs (and bare ids) copied
from other projects' public test suites and issue trackers (yt-dlp, youtube-dl, gallery-dl,
cobalt, instagrapi, you-get, Embed, ...), each with its source and what we must make of it:
the canonical post id (and the handle the URL names), a short link to resolve, or a refusal.
Expected ids were read off the sources, never produced by our parser."""

import csv
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.domain.enums import Platform
from app.platforms.urls import (
    PostRef,
    ShortLink,
    UrlError,
    canonical_url,
    normalize_post_id,
    parse_video_url,
    shortcode_to_media_id,
)
from tests import factories as f

CORPUS = Path(__file__).parent / "real_urls.csv"


@dataclass(frozen=True)
class Row:
    input: str
    form: str  # "url": pasted as a URL; "id": sent as {"platform", "platform_post_id"}
    platform: str
    outcome: str  # "post", "short_link" or "refused"
    expected_id: str
    expected_handle: str
    source: str
    note: str


def _rows() -> list[Row]:
    with CORPUS.open(newline="", encoding="utf-8") as file:
        return [Row(**line) for line in csv.DictReader(file)]


ROWS = _rows()


def _parse(row: Row) -> PostRef | ShortLink:
    if row.form == "id":
        platform = Platform(row.platform)
        return PostRef(platform, normalize_post_id(platform, row.input))
    return parse_video_url(row.input)


@pytest.mark.parametrize("row", ROWS, ids=[f"{i:03d}" for i in range(len(ROWS))])
def test_real_input_parses_as_its_source_says(row: Row) -> None:
    if row.outcome == "refused":
        with pytest.raises(UrlError):
            _parse(row)
        return
    parsed = _parse(row)
    platform = Platform(row.platform)
    if row.outcome == "short_link":
        assert isinstance(parsed, ShortLink), row.note
        assert parsed.platform is platform
        return
    assert row.outcome == "post"
    assert parsed == PostRef(platform, row.expected_id, row.expected_handle or None), row.note
    # The canonical URL stored on the post names the same video.
    again = parse_video_url(canonical_url(platform, parsed.post_id, parsed.handle))
    assert isinstance(again, PostRef)
    assert again.post_id == parsed.post_id


def test_the_corpus_is_real_sourced_and_covers_every_form() -> None:
    assert len(ROWS) >= 150
    assert len({(row.form, row.input) for row in ROWS}) == len(ROWS), "no duplicate rows"
    for row in ROWS:
        assert row.source.startswith(("https://github.com/", *_repos())), row
        assert row.outcome in {"post", "short_link", "refused"}
        assert (row.outcome == "post") == bool(row.expected_id), row
    urls = [row.input for row in ROWS]

    def some(needle: str, outcome: str) -> bool:
        return any(needle in r.input and r.outcome == outcome for r in ROWS)

    assert some("www.tiktok.com/share/video/", "post")
    assert some("www.tiktokv.com/share/video/", "post")
    assert some("t.tiktok.com/i18n/share/video/", "post")
    assert some("instagr.am/p/", "post")
    assert some("instagram://media?id=", "post")
    assert some("/reels/audio/", "refused")
    for page in ("/music/", "/tag/", "/live", "/collection/", "/sticker/", "/stories/"):
        assert some(page, "refused"), page
    assert sum(r.form == "id" and "_" in r.input and r.outcome == "post" for r in ROWS) >= 3
    assert sum(r.note.startswith("private") for r in ROWS) >= 8, "private posts' long codes"
    assert len([u for u in urls if "tiktok" in u]) >= 60
    assert len([u for u in urls if "instagr" in u]) >= 60
    youtube = [r for r in ROWS if r.platform == "youtube"]
    assert len(youtube) >= 100
    for form in ("/shorts/", "youtu.be/", "/watch?v=", "/embed/", "/live/", "music.youtube."):
        assert some(form, "post"), form
    for page in ("/playlist?list=", "/channel/", "/@", "/results?", "/feed/"):
        assert some(page, "refused"), page
    assert sum(r.form == "id" and r.platform == "youtube" for r in ROWS) >= 5


def _repos() -> tuple[str, ...]:
    return (
        "yt-dlp/yt-dlp ",
        "ytdl-org/youtube-dl ",
        "mikf/gallery-dl ",
        "imputnet/cobalt ",
        "subzeroid/instagrapi ",
        "soimort/you-get ",
        "oscarotero/Embed ",
    )


async def test_real_forms_reach_the_api_as_one_post_each(client: httpx.AsyncClient) -> None:
    """Through POST .../posts: a private post's link, its media id and its shortcode are one
    post; a TikTok share link is accepted; a sound page is a clear 422, not a post."""
    s = await f.setup_campaign(client)
    cid, instagram, tiktok = s["campaign"]["id"], s["instagram"]["id"], s["tiktok"]["id"]
    private = "https://www.instagram.com/p/C5_A1TQNPrYw4c2g9KAUTPUl8RVHqiAdAcOOSY0"
    p = await f.post(client, cid, url=private, creator_id=instagram)
    assert (p["platform_post_id"], p["url"]) == (
        "C5_A1TQNPrY",
        "https://www.instagram.com/p/C5_A1TQNPrY/",
    )
    media_id = f"{shortcode_to_media_id('C5_A1TQNPrY')}_25025320"
    for body in (
        {"platform": "instagram", "platform_post_id": media_id},
        {"url": "https://instagr.am/p/C5_A1TQNPrY/"},
    ):
        again = await client.post(
            f"/v1/campaigns/{cid}/posts", json={**body, "creator_id": instagram}
        )
        assert (again.status_code, again.json()["code"]) == (409, "post_exists"), body
    share = await f.post(
        client,
        cid,
        url="https://www.tiktokv.com/share/video/7668090902816017671/",
        creator_id=tiktok,
    )
    assert share["platform_post_id"] == "7668090902816017671"
    sound = await client.post(
        f"/v1/campaigns/{cid}/posts",
        json={"url": "https://www.instagram.com/reels/audio/5048757508568334/"},
    )
    assert sound.status_code == 422
    assert sound.headers["content-type"].startswith("application/problem+json")
    assert sound.json()["code"] == "invalid_url"
    assert "sound page" in sound.json()["detail"]
