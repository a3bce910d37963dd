"""The URL and id parsers, mostly as properties over generated input."""

import contextlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.domain.enums import Platform
from app.platforms.urls import (
    PostRef,
    ShortLink,
    UrlError,
    canonical_url,
    media_id_to_shortcode,
    normalize_post_id,
    parse_video_url,
    shortcode_to_media_id,
)

tiktok_ids = st.integers(min_value=1, max_value=2**63 - 1).map(str)
handles = st.from_regex(r"[A-Za-z0-9_.]{1,24}", fullmatch=True)
shortcodes = st.from_regex(r"[A-Za-z0-9_-]{5,11}", fullmatch=True)
# What a private post's link adds after its shortcode.
private_suffixes = st.from_regex(r"[A-Za-z0-9_-]{28}", fullmatch=True)
queries = st.one_of(
    st.just(""),
    st.from_regex(
        r"\?[a-z_]{1,8}=[A-Za-z0-9_%.-]{0,12}(&[a-z_]{1,8}=[A-Za-z0-9]{0,8}){0,3}", fullmatch=True
    ),
)
tiktok_hosts = st.sampled_from(["www.tiktok.com", "tiktok.com", "m.tiktok.com", "us.tiktok.com"])
instagram_hosts = st.sampled_from(
    ["www.instagram.com", "instagram.com", "m.instagram.com", "instagr.am", "www.instagr.am"]
)
schemes = st.sampled_from(["https://", "http://", ""])


@given(
    scheme=schemes,
    host=tiktok_hosts,
    handle=handles,
    video_id=tiktok_ids,
    kind=st.sampled_from(["video", "photo"]),
    query=queries,
    slash=st.booleans(),
)
def test_tiktok_profile_urls_give_the_id_and_the_handle(
    scheme: str, host: str, handle: str, video_id: str, kind: str, query: str, slash: bool
) -> None:
    url = f"{scheme}{host}/@{handle}/{kind}/{video_id}{'/' if slash else ''}{query}"
    assert parse_video_url(url) == PostRef(Platform.TIKTOK, video_id, handle)


@given(video_id=tiktok_ids, query=queries)
def test_tiktok_mobile_and_embed_urls_give_the_id(video_id: str, query: str) -> None:
    for url in (
        f"https://m.tiktok.com/v/{video_id}.html{query}",
        f"https://www.tiktok.com/embed/{video_id}{query}",
        f"https://www.tiktok.com/embed/v2/{video_id}{query}",
    ):
        assert parse_video_url(url) == PostRef(Platform.TIKTOK, video_id)


@given(video_id=tiktok_ids, query=queries, slash=st.booleans())
def test_tiktok_share_urls_give_the_id_without_a_handle(
    video_id: str, query: str, slash: bool
) -> None:
    end = f"{'/' if slash else ''}{query}"
    for url in (
        f"https://www.tiktok.com/share/video/{video_id}{end}",
        f"https://www.tiktokv.com/share/video/{video_id}{end}",
        f"https://t.tiktok.com/i18n/share/video/{video_id}{end}",
    ):
        assert parse_video_url(url) == PostRef(Platform.TIKTOK, video_id)


@given(code=st.from_regex(r"[A-Za-z0-9]{5,12}", fullmatch=True), query=queries)
def test_short_links_are_recognised_not_guessed(code: str, query: str) -> None:
    for url, platform in (
        (f"https://vm.tiktok.com/{code}/{query}", Platform.TIKTOK),
        (f"https://vt.tiktok.com/{code}{query}", Platform.TIKTOK),
        (f"https://www.tiktok.com/t/{code}/{query}", Platform.TIKTOK),
        (f"https://www.instagram.com/share/reel/{code}/{query}", Platform.INSTAGRAM),
        (f"https://www.instagram.com/share/{code}{query}", Platform.INSTAGRAM),
    ):
        parsed = parse_video_url(url)
        assert isinstance(parsed, ShortLink)
        assert parsed.platform is platform


@given(
    scheme=schemes,
    host=instagram_hosts,
    kind=st.sampled_from(["p", "reel", "reels", "tv"]),
    # A user named like a kind ("/p/reel/X") reads as that kind: the URL is ambiguous.
    user=st.one_of(st.none(), handles.filter(lambda h: h not in {"p", "reel", "reels", "tv"})),
    code=shortcodes,
    query=queries,
)
def test_instagram_urls_give_the_shortcode(
    scheme: str, host: str, kind: str, user: str | None, code: str, query: str
) -> None:
    prefix = f"/{user}" if user else ""
    parsed = parse_video_url(f"{scheme}{host}{prefix}/{kind}/{code}/{query}")
    assert isinstance(parsed, PostRef)
    assert (parsed.platform, parsed.post_id) == (Platform.INSTAGRAM, code.lstrip("A") or "A")


def test_equivalent_ids_canonicalize_to_one() -> None:
    """One video, one id: TikTok ids without leading zeros, Instagram shortcodes without
    leading 'A' (a zero digit of the media id in base 64), numeric media ids converted."""
    for given_id in ("7400000000000000001", "07400000000000000001", "0000007400000000000000001"):
        assert normalize_post_id(Platform.TIKTOK, given_id) == "7400000000000000001"
    tiktok = parse_video_url("https://www.tiktok.com/@x/video/07400000000000000001")
    assert isinstance(tiktok, PostRef)
    assert tiktok.post_id == "7400000000000000001"
    for code in ("DUPTEST1", "ADUPTEST1", "AAAADUPTEST1"):
        assert normalize_post_id(Platform.INSTAGRAM, code) == "DUPTEST1"
        parsed = parse_video_url(f"https://www.instagram.com/p/{code}/")
        assert isinstance(parsed, PostRef)
        assert parsed.post_id == "DUPTEST1"
    media_id = str(shortcode_to_media_id("DUPTEST1"))
    assert normalize_post_id(Platform.INSTAGRAM, media_id) == "DUPTEST1"
    with pytest.raises(UrlError):
        normalize_post_id(Platform.TIKTOK, "18446744073709551616")  # 2**64: not a TikTok id
    with pytest.raises(UrlError):
        normalize_post_id(Platform.TIKTOK, "0")


@given(
    host=instagram_hosts,
    kind=st.sampled_from(["p", "reel", "reels", "tv"]),
    code=shortcodes,
    suffix=private_suffixes,
)
def test_a_private_posts_long_code_is_its_shortcode(
    host: str, kind: str, code: str, suffix: str
) -> None:
    """A private post's link carries its shortcode and 28 more characters: the same post."""
    parsed = parse_video_url(f"https://{host}/{kind}/{code}{suffix}/")
    assert parsed == parse_video_url(f"https://{host}/{kind}/{code}/")
    assert normalize_post_id(Platform.INSTAGRAM, code + suffix) == (code.lstrip("A") or "A")


@given(
    code=st.from_regex(r"[B-Za-z0-9_-][A-Za-z0-9_-]{11,27}", fullmatch=True).filter(
        lambda code: any(char.isalpha() for char in code)  # digits alone are a media id
    )
)
def test_codes_too_long_for_a_shortcode_and_too_short_for_a_private_one_are_refused(
    code: str,
) -> None:
    with pytest.raises(UrlError):
        parse_video_url(f"https://www.instagram.com/p/{code}/")
    with pytest.raises(UrlError):
        normalize_post_id(Platform.INSTAGRAM, code)


@given(
    media_pk=st.integers(min_value=10**11, max_value=2**64 - 1),
    owner_pk=st.integers(min_value=1, max_value=10**15),
)
def test_instagram_media_ids_give_the_shortcode_of_their_media_pk(
    media_pk: int, owner_pk: int
) -> None:
    code = media_id_to_shortcode(media_pk)
    assert normalize_post_id(Platform.INSTAGRAM, f"{media_pk}_{owner_pk}") == code
    assert normalize_post_id(Platform.INSTAGRAM, str(media_pk)) == code
    app_link = parse_video_url(f"instagram://media?id={media_pk}_{owner_pk}")
    assert app_link == PostRef(Platform.INSTAGRAM, code)


@given(code=shortcodes)
@example(code="12345_67890")  # digits and '_' as short as a shortcode: a shortcode
@example(code="00000000000")
def test_a_bare_shortcode_is_read_as_its_url_reads_it(code: str) -> None:
    from_url = parse_video_url(f"https://www.instagram.com/p/{code}/")
    assert isinstance(from_url, PostRef)
    assert normalize_post_id(Platform.INSTAGRAM, code) == from_url.post_id


def test_instagram_media_ids_beyond_64_bits_are_refused() -> None:
    for value in (f"{2**64}_25025320", str(2**64)):
        with pytest.raises(UrlError):
            normalize_post_id(Platform.INSTAGRAM, value)
    for url in (f"instagram://media?id={2**64}", "instagram://user?username=x"):
        with pytest.raises(UrlError):
            parse_video_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.instagram.com/reels/audio/5048757508568334/",
        "https://www.instagram.com/reel/audio/5048757508568334/",
        "https://www.instagram.com/reels/audio/938390323913303",
        "https://www.tiktok.com/music/jiefei-soap-remix-7036843036118469381",
        "https://www.tiktok.com/tag/hello2018",
        "https://www.tiktok.com/@pilarmagenta/live",
        "https://m.tiktok.com/share/live/7209423610325322522/",
        "https://www.tiktok.com/share/user/188294915489964032",
        "https://www.instagram.com/stories/fruits_zipper/3570766765028588805/",
    ],
)
def test_sound_tag_live_story_and_profile_pages_are_refused(url: str) -> None:
    with pytest.raises(UrlError):
        parse_video_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/@x/video/123",
        "https://tiktok.com.evil.example/@x/video/123",
        "https://www.tiktok.com/@x",
        "https://www.tiktok.com/@x/video/12ab",
        "https://www.tiktok.com/@x/video/123456789012345678901",
        "https://www.instagram.com/someone/",
        "https://www.instagram.com/p/bad*code/",
        "ftp://www.tiktok.com/@x/video/1",
        "https://www.tiktok.com:99999/@x/video/1",
        "   ",
    ],
)
def test_what_is_not_a_video_url_is_refused(url: str) -> None:
    with pytest.raises(UrlError):
        parse_video_url(url)


@given(st.text(max_size=300))
@example("https://[::1")
@example("https://www.tiktok.com/@/video/")
def test_any_text_parses_or_raises_url_error(text: str) -> None:
    with contextlib.suppress(UrlError):
        parse_video_url(text)


def test_shortcode_and_media_id_known_pair() -> None:
    assert shortcode_to_media_id("DF5s0duxDts") == 3565077699422862188
    assert media_id_to_shortcode(3565077699422862188) == "DF5s0duxDts"


@given(st.integers(min_value=0, max_value=2**64))
def test_media_id_round_trips_through_its_shortcode(media_id: int) -> None:
    assert shortcode_to_media_id(media_id_to_shortcode(media_id)) == media_id


def test_bare_ids_are_normalized() -> None:
    assert normalize_post_id(Platform.TIKTOK, " 6718335390845095173 ") == "6718335390845095173"
    assert normalize_post_id(Platform.INSTAGRAM, "3565077699422862188") == "DF5s0duxDts"
    assert normalize_post_id(Platform.INSTAGRAM, "DF5s0duxDts") == "DF5s0duxDts"
    with pytest.raises(UrlError):
        normalize_post_id(Platform.TIKTOK, "DF5s0duxDts")


@given(handle=handles, video_id=tiktok_ids, code=shortcodes.map(lambda c: c.lstrip("A") or "A"))
def test_canonical_urls_parse_back_to_the_same_post(handle: str, video_id: str, code: str) -> None:
    assert parse_video_url(canonical_url(Platform.TIKTOK, video_id, handle)) == PostRef(
        Platform.TIKTOK, video_id, handle
    )
    assert parse_video_url(canonical_url(Platform.INSTAGRAM, code)) == PostRef(
        Platform.INSTAGRAM, code
    )
