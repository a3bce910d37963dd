"""Every real provider answer in `samples/provider_samples/` (22 bodies published in public
repositories; where each came from and every edit is in its SOURCES.md) through the parser of
the provider that sent it, with the exact normalized result: the stats and the field the views
were read from, or the typed error, and the outcome the writer records."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.domain.enums import StatsSource
from app.platforms import instagram, tiktok_backup, tiktok_primary
from app.platforms.contract import (
    FetchError,
    FetchErrorKind,
    FetchResult,
    SkipCode,
    Skipped,
    VideoStats,
    outcome_code,
)
from app.platforms.http import Parse, Reply
from tests.platforms.conftest import SAMPLES

PROVIDER_SAMPLES = SAMPLES / "provider_samples"
PARSERS: dict[str, Parse] = {
    "tikwm": tiktok_primary.parse_reply,  # TikTok primary
    "tiktok_detail": tiktok_backup.parse_reply,  # TikTok backup (web item detail)
    "instagram": instagram.parse_reply,
}
PRIMARY, BACKUP, INSTAGRAM = StatsSource.PRIMARY, StatsSource.BACKUP, StatsSource.INSTAGRAM


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def stats(
    views: int,
    likes: int,
    comments: int,
    shares: int | None,
    handle: str | None,
    user_id: str | None,
    published: int | None,
    source: StatsSource,
    views_field: str,
) -> VideoStats:
    return VideoStats(
        views=views,
        likes=likes,
        comments=comments,
        shares=shares,
        handle=handle,
        platform_user_id=user_id,
        published_at=at(published) if published is not None else None,
        source=source,
        views_field=views_field,
    )


# path -> (expected result, outcome code)
EXPECTED: dict[str, tuple[FetchResult, str]] = {
    # tikwm (TikTok primary)
    "tikwm/tikwm_docs_2021_umayyyy238.json": (
        # 2021 shape: no share_count, no author.id
        stats(56297, 5199, 130, None, "umayyyy238", None, 1629038229, PRIMARY, "play_count"),
        "refreshed",
    ),
    "tikwm/shaon_readme_2025_v_apon.json": (
        stats(
            184033,
            18551,
            466,
            2994,
            "v.apon",
            "7168718594821784581",
            1745152324,
            PRIMARY,
            "play_count",
        ),
        "refreshed",
    ),
    "tikwm/expo_app_2023_tiktok_official.json": (
        stats(634307, 21119, 1255, 195, "tiktok", "107955", 1654647988, PRIMARY, "play_count"),
        "refreshed",
    ),
    "tikwm/go_research_2026_scout2015_urls_elided.json": (
        stats(
            156615,
            34778,
            5880,
            1408,
            "scout2015",
            "53279706535428096",
            1564234358,
            PRIMARY,
            "play_count",
        ),
        "refreshed",
    ),
    "tikwm/cdl_userposts_2026_photomode_item_rewrapped.json": (
        # A photo-mode post (images, duration 0): TikTok counts its views like a video's.
        stats(
            784637,
            53984,
            127,
            39030,
            "user_embongngo",
            "7549519262734943239",
            1779773825,
            PRIMARY,
            "play_count",
        ),
        "refreshed",
    ),
    "tikwm/err_url_parsing_failed.json": (
        FetchError(
            FetchErrorKind.NOT_FOUND,
            "not found, deleted or private (Url parsing is failed! Please check url.)",
            PRIMARY,
        ),
        "not_found",
    ),
    "tikwm/err_free_api_limit_per_second.json": (
        FetchError(FetchErrorKind.RATE_LIMITED, "Free Api Limit: 1 request/second.", PRIMARY, 1.0),
        "rate_limited",
    ),
    "tikwm/err_free_api_limit_per_day.json": (
        FetchError(
            FetchErrorKind.QUOTA_EXHAUSTED,
            "quota exhausted (Free Api Limit: 10000 request/ 1 day.)",
            PRIMARY,
        ),
        "quota_exhausted",
    ),
    # TikTok web item detail (TikTok backup)
    "tiktok_detail/ssr_nextdata_2021_i_am_doshik1.json": (
        # Only the rounded `stats` (no statsV2): read, and the field says so.
        stats(
            44200000,
            3400000,
            44300,
            53200,
            "i_am_doshik1",
            "6530595983024215055",
            1629804216,
            BACKUP,
            "stats.playCount",
        ),
        "refreshed",
    ),
    "tiktok_detail/tikhub_search_2026_dua_zahra014_reduced.json": (
        stats(
            12100,
            2887,
            179,
            38,
            "dua_zahra014",
            "7105281502317872154",
            1770280392,
            BACKUP,
            "statsV2.playCount",
        ),
        "refreshed",
    ),
    "tiktok_detail/receipt_2026_tiktok_official_reconstructed.json": (
        # createTime as a string
        stats(
            295000, 10500, 1256, 908, "tiktok", "107955", 1779471253, BACKUP, "statsV2.playCount"
        ),
        "refreshed",
    ),
    "tiktok_detail/tiktokapi_pr1143_stats_vs_statsv2_reconstructed.json": (
        # stats rounds (1800000, 22600, 16000); statsV2 is exact and wins for every count.
        stats(1776621, 22609, 15955, 259, None, None, None, BACKUP, "statsV2.playCount"),
        "refreshed",
    ),
    "tiktok_detail/status_10204_privacy_deleted.json": (
        FetchError(
            FetchErrorKind.NOT_FOUND,
            "video not found or deleted (item_privacy_authorization&status_deleted)",
            BACKUP,
        ),
        "not_found",
    ),
    "tiktok_detail/status_10204_cross_border_violation.json": (
        FetchError(
            FetchErrorKind.WITHHELD,
            "video withheld in this region (cross_border_violation_ur)",
            BACKUP,
        ),
        "withheld",
    ),
    "tiktok_detail/status_10204_author_reviewing.json": (
        FetchError(
            FetchErrorKind.UNDER_REVIEW,
            "video under review (author_status,status_reviewing)",
            BACKUP,
        ),
        "under_review",
    ),
    # Instagram web GraphQL
    "instagram/scrapecreators_docs_example_DF5s0duxDts.json": (
        # video_play_count 4651 beside video_view_count 1639: plays are the views.
        stats(
            4651,
            153,
            17,
            None,
            "adrianhorning",
            "2700692569",
            1739210435,
            INSTAGRAM,
            "video_play_count",
        ),
        "refreshed",
    ),
    "instagram/ahmedrangel_readme_CtjoC2BNsB2_reconstructed.json": (
        stats(
            371210,
            72185,
            129,
            None,
            "fatfatpankocat",
            "39625136655",
            1686930107,
            INSTAGRAM,
            "video_play_count",
        ),
        "refreshed",
    ),
    "instagram/instapi_2021_graphvideo_CRywLShH21V.json": (
        # owner has only an id; comments in edge_media_to_comment; no play count
        stats(14481, 1020, 6, None, None, "24854348713", 1627308392, INSTAGRAM, "video_view_count"),
        "refreshed",
    ),
    "instagram/legacy_a1_2018_graphvideo_Bg-1RNuBPW8_reenveloped.json": (
        stats(
            32, 23, 1, None, "cuty__animal_", "498059394", 1522486771, INSTAGRAM, "video_view_count"
        ),
        "refreshed",
    ),
    "instagram/zorki_petesouza_sidecar.json": (
        Skipped("carousel_zero_views", INSTAGRAM, SkipCode.CAROUSEL),
        "skipped_carousel",
    ),
    "instagram/xdt_shortcode_media_null.json": (
        FetchError(FetchErrorKind.NOT_FOUND, "post not found or private", INSTAGRAM),
        "not_found",
    ),
    "instagram/http401_require_login_please_wait.json": (
        FetchError(FetchErrorKind.RATE_LIMITED, "Instagram asks to log in (throttled)", INSTAGRAM),
        "rate_limited",
    ),
}


def _status(path: str) -> int:
    """HTTP 200 unless the file name starts `httpNNN_` (SOURCES.md)."""
    name = Path(path).name
    return int(name[4:7]) if name.startswith("http") else 200


def test_every_stored_sample_has_an_expectation() -> None:
    stored = {
        str(p.relative_to(PROVIDER_SAMPLES))
        for p in PROVIDER_SAMPLES.rglob("*.json")
        if p.parent.name in PARSERS
    }
    assert stored == set(EXPECTED)
    assert len(stored) == 22
    assert (PROVIDER_SAMPLES / "SOURCES.md").is_file()


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_real_answer_is_read_exactly(path: str) -> None:
    body = (PROVIDER_SAMPLES / path).read_bytes()
    parse = PARSERS[path.split("/")[0]]
    result = parse(Reply(_status(path), body))
    expected, outcome = EXPECTED[path]
    assert result == expected
    assert outcome_code(result) == outcome
    if isinstance(result, VideoStats):
        # The answer itself travels with the stats, for provenance.
        assert result.raw == body
        assert result.raw_sha256 == hashlib.sha256(body).hexdigest()
