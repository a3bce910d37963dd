"""The pure parsers against stored answers of the real shapes, and against garbage."""

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.enums import StatsSource
from app.platforms import instagram, tiktok_backup, tiktok_primary
from app.platforms.contract import (
    OUTCOME_CODES,
    RAW_MAX_BYTES,
    FetchError,
    FetchErrorKind,
    FetchResult,
    SkipCode,
    Skipped,
    VideoStats,
    outcome_code,
)
from app.platforms.http import Parse, Reply
from tests.platforms.conftest import sample

PUBLISHED = datetime(2024, 8, 6, 13, 20, tzinfo=UTC)


def reply(name: str, status: int = 200, retry_after: float | None = None) -> Reply:
    return Reply(status, sample(name), retry_after)


def test_primary_ok() -> None:
    assert tiktok_primary.parse_reply(reply("tikwm_ok.json")) == VideoStats(
        views=184233,
        likes=21904,
        comments=388,
        shares=1207,
        handle="dancewithmia",
        platform_user_id="6812345678901234567",
        published_at=PUBLISHED,
        source=StatsSource.PRIMARY,
        views_field="play_count",
    )


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("tikwm_url_parsing_failed.json", 200, FetchErrorKind.NOT_FOUND),
        ("tikwm_free_api_limit.json", 200, FetchErrorKind.RATE_LIMITED),
        ("rapidapi_401.json", 401, FetchErrorKind.AUTH),
        ("rapidapi_403.json", 403, FetchErrorKind.AUTH),
        ("rapidapi_429.json", 429, FetchErrorKind.RATE_LIMITED),
    ],
)
def test_primary_errors(name: str, status: int, kind: FetchErrorKind) -> None:
    result = tiktok_primary.parse_reply(reply(name, status))
    assert isinstance(result, FetchError)
    assert (result.kind, result.source) == (kind, StatsSource.PRIMARY)


def test_primary_unknown_error_code_is_upstream() -> None:
    body = b'{"code": -1, "msg": "Server busy", "processed_time": 0.01}'
    result = tiktok_primary.parse_reply(Reply(200, body))
    assert result == FetchError(
        FetchErrorKind.UPSTREAM, "code -1: Server busy", StatsSource.PRIMARY
    )


def test_backup_ok() -> None:
    result = tiktok_backup.parse_reply(reply("tiktok_detail_ok.json"))
    assert result == VideoStats(
        views=184233,
        likes=21904,
        comments=388,
        shares=1207,
        handle="dancewithmia",
        platform_user_id="6812345678901234567",
        published_at=PUBLISHED,
        source=StatsSource.BACKUP,
        views_field="statsV2.playCount",
    )


def test_backup_prefers_exact_statsv2_over_saturated_stats() -> None:
    result = tiktok_backup.parse_reply(reply("tiktok_detail_huge.json"))
    assert isinstance(result, VideoStats)
    assert (result.views, result.likes, result.comments, result.shares) == (
        3012345678,
        41000321,
        310377,
        2600412,
    )
    assert result.published_at == PUBLISHED  # createTime given as a string here


def test_backup_reads_stats_when_there_is_no_statsv2() -> None:
    result = tiktok_backup.parse_reply(reply("tiktok_detail_stats_only.json"))
    assert isinstance(result, VideoStats)
    assert (result.views, result.likes, result.comments, result.shares) == (
        184233,
        21904,
        388,
        1207,
    )


@pytest.mark.parametrize(
    ("name", "status", "kind", "message"),
    [
        ("tiktok_detail_10204.json", 200, FetchErrorKind.NOT_FOUND, "video not found or deleted"),
        ("tiktok_detail_10216.json", 200, FetchErrorKind.PRIVATE, "video is private"),
        ("tiktok_detail_10222.json", 200, FetchErrorKind.PRIVATE, "account is private"),
        (
            "rapidapi_401.json",
            401,
            FetchErrorKind.AUTH,
            "HTTP 401: Invalid API key. Go to https://docs.rapidapi.com/docs/keys for more info.",
        ),
        (
            "rapidapi_403.json",
            403,
            FetchErrorKind.AUTH,
            "HTTP 403: You are not subscribed to this API.",
        ),
    ],
)
def test_backup_errors(name: str, status: int, kind: FetchErrorKind, message: str) -> None:
    assert tiktok_backup.parse_reply(reply(name, status)) == FetchError(
        kind, message, StatsSource.BACKUP
    )


def test_backup_429_keeps_retry_after() -> None:
    result = tiktok_backup.parse_reply(reply("rapidapi_429.json", 429, retry_after=7.0))
    assert isinstance(result, FetchError)
    assert (result.kind, result.retry_after) == (FetchErrorKind.RATE_LIMITED, 7.0)


def test_instagram_reel_uses_play_count() -> None:
    assert instagram.parse_reply(reply("instagram_reel_ok.json")) == VideoStats(
        views=912344,
        likes=40233,
        comments=611,
        shares=None,
        handle="lena.moves",
        platform_user_id="51234567890",
        published_at=datetime(2025, 2, 5, tzinfo=UTC),
        source=StatsSource.INSTAGRAM,
        views_field="video_play_count",
    )


def test_instagram_legacy_shape_falls_back_to_view_count_and_old_edges() -> None:
    result = instagram.parse_reply(reply("instagram_legacy_ok.json"))
    assert isinstance(result, VideoStats)
    assert (result.views, result.likes, result.comments) == (15230, 804, 37)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "instagram_carousel.json",
            Skipped("carousel_zero_views", StatsSource.INSTAGRAM, SkipCode.CAROUSEL),
        ),
        (
            "instagram_photo.json",
            Skipped("photo_has_no_views", StatsSource.INSTAGRAM, SkipCode.PHOTO),
        ),
        (
            "instagram_null_media.json",
            FetchError(
                FetchErrorKind.NOT_FOUND, "post not found or private", StatsSource.INSTAGRAM
            ),
        ),
    ],
)
def test_instagram_outcomes(name: str, expected: object) -> None:
    assert instagram.parse_reply(reply(name)) == expected


def test_instagram_carousel_with_views_is_counted() -> None:
    body = json.loads(sample("instagram_carousel.json"))
    body["data"]["xdt_shortcode_media"]["video_view_count"] = 5400
    result = instagram.parse_reply(Reply(200, json.dumps(body).encode()))
    assert isinstance(result, VideoStats)
    assert result.views == 5400


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, sample("instagram_require_login.json"), FetchErrorKind.RATE_LIMITED),
        (401, b'{"message": "Invalid API key"}', FetchErrorKind.AUTH),
        (403, b'{"message": "Forbidden"}', FetchErrorKind.AUTH),
        (429, b"Too Many Requests", FetchErrorKind.RATE_LIMITED),
        (500, b"<html>Internal Server Error</html>", FetchErrorKind.UPSTREAM),
    ],
)
def test_instagram_http_errors(status: int, body: bytes, kind: FetchErrorKind) -> None:
    result = instagram.parse_reply(Reply(status, body))
    assert isinstance(result, FetchError)
    assert result.kind is kind


def _mutated(name: str, path: list[str], value: object) -> bytes:
    body = json.loads(sample(name))
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(body).encode()


_DELETE = object()
_PRIMARY_DATA = ["data"]
_BACKUP_ITEM = ["itemInfo", "itemStruct"]
_IG_MEDIA = ["data", "xdt_shortcode_media"]


@pytest.mark.parametrize(
    ("parse", "name", "path", "value", "complaint"),
    [
        (
            tiktok_primary.parse_reply,
            "tikwm_ok.json",
            [*_PRIMARY_DATA, "play_count"],
            -5,
            "negative",
        ),
        (tiktok_primary.parse_reply, "tikwm_ok.json", [*_PRIMARY_DATA, "play_count"], 1.5, "count"),
        (
            tiktok_primary.parse_reply,
            "tikwm_ok.json",
            [*_PRIMARY_DATA, "digg_count"],
            True,
            "count",
        ),
        (
            tiktok_primary.parse_reply,
            "tikwm_ok.json",
            [*_PRIMARY_DATA, "digg_count"],
            _DELETE,
            "missing",
        ),
        (tiktok_primary.parse_reply, "tikwm_ok.json", [*_PRIMARY_DATA, "author"], [], "object"),
        (tiktok_primary.parse_reply, "tikwm_ok.json", [*_PRIMARY_DATA, "create_time"], 12, "unix"),
        (tiktok_primary.parse_reply, "tikwm_ok.json", ["data"], None, "object"),
        (
            tiktok_backup.parse_reply,
            "tiktok_detail_ok.json",
            [*_BACKUP_ITEM, "statsV2", "playCount"],
            "1e9",
            "count",
        ),
        (
            tiktok_backup.parse_reply,
            "tiktok_detail_ok.json",
            [*_BACKUP_ITEM, "stats"],
            _DELETE,
            None,
        ),
        (
            tiktok_backup.parse_reply,
            "tiktok_detail_stats_only.json",
            [*_BACKUP_ITEM, "stats"],
            _DELETE,
            "neither",
        ),
        (tiktok_backup.parse_reply, "tiktok_detail_ok.json", ["statusCode"], "0", None),
        (
            instagram.parse_reply,
            "instagram_reel_ok.json",
            [*_IG_MEDIA, "video_play_count"],
            "many",
            "count",
        ),
        (
            instagram.parse_reply,
            "instagram_reel_ok.json",
            [*_IG_MEDIA, "edge_media_preview_like"],
            _DELETE,
            "edge_liked_by",
        ),
        (
            instagram.parse_reply,
            "instagram_reel_ok.json",
            [*_IG_MEDIA, "video_play_count"],
            _DELETE,
            None,
        ),
        (
            instagram.parse_reply,
            "instagram_legacy_ok.json",
            ["data", "shortcode_media", "video_view_count"],
            _DELETE,
            "neither",
        ),
    ],
)
def test_shape_surprises(
    parse: Parse, name: str, path: list[str], value: object, complaint: str | None
) -> None:
    """A wrong type, a negative or missing count is an upstream error naming the field;
    a field with a documented fallback is read from the fallback instead (complaint None)."""
    result = parse(Reply(200, _mutated(name, path, value)))
    if complaint is None:
        assert isinstance(result, VideoStats)
    else:
        assert isinstance(result, FetchError)
        assert result.kind is FetchErrorKind.UPSTREAM
        assert complaint in result.message


@pytest.mark.parametrize(
    "parse", [tiktok_primary.parse_reply, tiktok_backup.parse_reply, instagram.parse_reply]
)
@pytest.mark.parametrize(
    "body", [b"", b"<html>502 Bad Gateway</html>", b'{"data": {', b"\xff\xfe", b"[]", b"null"]
)
def test_non_json_and_wrong_top_level_are_upstream(parse: Parse, body: bytes) -> None:
    result = parse(Reply(200, body))
    assert isinstance(result, FetchError)
    assert result.kind is FetchErrorKind.UPSTREAM


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
# Bodies shaped like each provider's with arbitrary values in the right places, so the
# parsers get past the first key check and often all the way to stats.
counts = st.integers(min_value=0, max_value=10**12)
timestamps = st.integers(min_value=1_500_000_000, max_value=1_900_000_000)
anything = st.one_of(
    counts,
    counts,
    counts.map(str),
    st.integers(min_value=-10, max_value=2**64),
    st.from_regex(r"\A-?[0-9]{1,21}\Z"),
    json_values,
)


def shaped(*names: str, **nested: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    members = st.fixed_dictionaries({name: anything for name in names} | nested)
    return st.one_of(members, members, members, json_values)


primary_like = shaped(
    "msg",
    code=st.just(0) | anything,
    data=shaped(
        "play_count",
        "digg_count",
        "comment_count",
        "share_count",
        create_time=timestamps | anything,
        author=shaped("id", "unique_id"),
    ),
)
backup_like = shaped(
    statusCode=st.sampled_from([0, 0, 10204, 10216, 10222]) | anything,
    itemInfo=shaped(
        itemStruct=shaped(
            createTime=timestamps | anything,
            stats=shaped("playCount", "diggCount", "commentCount", "shareCount"),
            statsV2=shaped("playCount", "diggCount", "commentCount"),
            author=shaped("id", "uniqueId"),
        )
    ),
)
instagram_like = shaped(
    status=st.just("ok") | anything,
    data=shaped(
        xdt_shortcode_media=shaped(
            "video_play_count",
            "video_view_count",
            taken_at_timestamp=timestamps | anything,
            __typename=st.sampled_from(["XDTGraphVideo", "GraphSidecar", "GraphImage"]),
            edge_media_preview_like=shaped("count"),
            edge_media_to_parent_comment=shaped("count"),
            owner=shaped("id", "username"),
        )
    ),
)


@pytest.mark.parametrize(
    ("parse", "bodies"),
    [
        (tiktok_primary.parse_reply, primary_like),
        (tiktok_backup.parse_reply, backup_like),
        (instagram.parse_reply, instagram_like),
    ],
)
@given(data=st.data(), status=st.sampled_from([200, 200, 200, 401, 403, 404, 429, 500, 503]))
def test_parsers_never_raise(
    parse: Parse, bodies: st.SearchStrategy[object], data: st.DataObject, status: int
) -> None:
    body = data.draw(bodies)
    result = parse(Reply(status, json.dumps(body).encode()))
    assert isinstance(result, VideoStats | FetchError | Skipped)
    if isinstance(result, VideoStats):
        assert min(result.views, result.likes or 0, result.comments) >= 0


@given(body=st.binary(max_size=200))
def test_parsers_never_raise_on_bytes(body: bytes) -> None:
    for parse in (tiktok_primary.parse_reply, tiktok_backup.parse_reply, instagram.parse_reply):
        assert isinstance(parse(Reply(200, body)), VideoStats | FetchError | Skipped)


# Outcomes and provenance


def test_outcome_codes_are_the_documented_closed_set() -> None:
    assert {
        "refreshed",
        "skipped_carousel",
        "skipped_photo",
        "not_found",
        "private",
        "withheld",
        "under_review",
        "rate_limited",
        "quota_exhausted",
        "auth",
        "upstream_error",
    } == OUTCOME_CODES
    every: list[FetchResult] = [
        VideoStats(1, 1, 1, None, None, None, None, StatsSource.PRIMARY),
        *(Skipped("x", StatsSource.INSTAGRAM, code) for code in SkipCode),
        *(FetchError(kind, "x", StatsSource.BACKUP) for kind in FetchErrorKind),
    ]
    assert {outcome_code(result) for result in every} == OUTCOME_CODES


@pytest.mark.parametrize(
    ("msg", "kind", "retry_after"),
    [
        ("Free Api Limit: 1 request/second.", FetchErrorKind.RATE_LIMITED, 1.0),
        ("Free Api Limit: 5 requests/ 10 seconds.", FetchErrorKind.RATE_LIMITED, 10.0),
        ("Free Api Limit: 10000 request/ 1 day.", FetchErrorKind.QUOTA_EXHAUSTED, None),
        ("Free Api Limit: 600 request/hour.", FetchErrorKind.QUOTA_EXHAUSTED, None),
        ("Free Api Limit reached", FetchErrorKind.RATE_LIMITED, None),  # unreadable: pacing
    ],
)
def test_primary_tells_pacing_from_a_spent_quota(
    msg: str, kind: FetchErrorKind, retry_after: float | None
) -> None:
    body = json.dumps({"code": -1, "msg": msg, "processed_time": 0.01}).encode()
    result = tiktok_primary.parse_reply(Reply(200, body))
    assert isinstance(result, FetchError)
    assert (result.kind, result.retry_after) == (kind, retry_after)
    assert result.transient is (kind is FetchErrorKind.RATE_LIMITED)


def test_a_rapidapi_plan_quota_is_exhausted_not_rate_limited() -> None:
    body = (
        b'{"message":"You have exceeded the MONTHLY quota for Requests on your current plan, '
        b'BASIC. Upgrade your plan at https://rapidapi.com/example/api/example"}'
    )
    result = tiktok_backup.parse_reply(Reply(429, body))
    assert isinstance(result, FetchError)
    assert result.kind is FetchErrorKind.QUOTA_EXHAUSTED
    assert not result.transient


def test_stats_carry_the_raw_answer_and_its_hash_but_not_an_oversized_one() -> None:
    body = sample("tikwm_ok.json")
    result = tiktok_primary.parse_reply(Reply(200, body))
    assert isinstance(result, VideoStats)
    assert (result.raw, result.raw_sha256) == (body, hashlib.sha256(body).hexdigest())
    assert "raw=" not in repr(result)  # logs never dump whole answers

    padded = json.loads(body)
    padded["data"]["title"] = "x" * RAW_MAX_BYTES
    big = json.dumps(padded).encode()
    result = tiktok_primary.parse_reply(Reply(200, big))
    assert isinstance(result, VideoStats)
    assert (result.raw, result.raw_sha256) == (None, hashlib.sha256(big).hexdigest())


def test_errors_and_skips_carry_no_raw_answer() -> None:
    result = instagram.parse_reply(reply("instagram_carousel.json"))
    assert isinstance(result, Skipped)
    assert not hasattr(result, "raw")
