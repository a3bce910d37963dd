"""The post page's chart (app/web/charts.py), a pure function: where points land on its
scales, and the edges (no points, one point, numbers past any screen's digits)."""

import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from app.web.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    Point,
    compact,
    line_chart,
    nice_top,
)

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def _dots(svg: ET.Element) -> list[tuple[float, float]]:
    return [(float(c.attrib["cx"]), float(c.attrib["cy"])) for c in svg.iter(f"{SVG}circle")]


def _labels(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_points_land_on_the_time_and_value_scales() -> None:
    points = [
        Point(T0, 0),
        Point(T0 + timedelta(hours=6), 400),
        Point(T0 + timedelta(days=1), 1000),
    ]
    svg = _parse(line_chart(points, "Views"))
    (x0, y0), (x1, y1), (x2, y2) = _dots(svg)
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    assert (x0, y0) == (LEFT, bottom)  # the first moment, at 0
    assert (x2, y2) == (right, TOP)  # the last moment, at the top (1,000 is a round top)
    assert x1 == round(LEFT + (right - LEFT) / 4, 1)  # 6 h of 24
    assert y1 == round(bottom - (bottom - TOP) * 0.4, 1)
    line = svg.find(f"{SVG}polyline")
    assert line is not None
    assert len(line.attrib["points"].split()) == 3
    assert {"0", "1K", "Mar 01 00:00", "Mar 02 00:00"} <= set(_labels(svg))
    assert svg.attrib["role"] == "img"
    assert svg.attrib["aria-label"] == "Views"
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert title.text == "Views: 0 on Mar 01 00:00 to 1,000 on Mar 02 00:00"


def test_the_top_is_round_and_at_or_above_the_highest_value() -> None:
    assert [nice_top(v) for v in (0, 1, 7, 10, 11, 240, 999, 1001, 6000)] == [
        1,
        1,
        10,
        10,
        20,
        500,
        1000,
        2000,
        10000,
    ]
    svg = _parse(line_chart([Point(T0, 110), Point(T0 + timedelta(days=10), 150)], "Likes"))
    assert "200" in _labels(svg)
    assert "Mar 11" in _labels(svg)  # over days, dates without times


def test_no_points_is_a_chart_that_says_so() -> None:
    svg = _parse(line_chart([], "Shares"))
    assert _dots(svg) == []
    assert svg.find(f"{SVG}polyline") is None
    assert _labels(svg) == ["No figures yet"]


def test_one_point_sits_in_the_middle_without_a_line() -> None:
    svg = _parse(line_chart([Point(T0, 4)], "Comments"))
    [(x, y)] = _dots(svg)
    assert x == LEFT + (WIDTH - LEFT - RIGHT) / 2
    assert y == round(HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * 0.8, 1)  # 4 of a top of 5
    assert svg.find(f"{SVG}polyline") is None
    all_zero = _parse(line_chart([Point(T0, 0), Point(T0, 0)], "Shares"))
    assert [y for _, y in _dots(all_zero)] == [HEIGHT - BOTTOM] * 2  # no division by 0


def test_huge_numbers_keep_their_place_and_short_labels() -> None:
    biggest = 2**63 - 1  # what a BIGINT holds
    points = [Point(T0, biggest // 3), Point(T0 + timedelta(hours=1), biggest)]
    svg = _parse(line_chart(points, "Views"))
    dots = _dots(svg)
    assert all(math.isfinite(v) for dot in dots for v in dot)
    assert dots[1][1] > TOP  # 9.22e18 of a top of 1e19
    assert "1.0E19" in _labels(svg)
    assert [compact(v) for v in (999, 1000, 12_500, 999_999, 3_000_000, 250_000_000_000)] == [
        "999",
        "1K",
        "12.5K",
        "999K",
        "3M",
        "250B",
    ]
    assert compact(biggest) == "9.2E18"
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert f"{biggest:,}" in (title.text or "")


def test_labels_are_escaped() -> None:
    svg = _parse(line_chart([Point(T0, 1)], "<Views & co>"))
    assert svg.attrib["aria-label"] == "<Views & co>"


def test_bars_are_as_long_as_their_share_of_the_largest_and_zero_draws_nothing() -> None:
    from app.web.charts import Bar, bar_chart

    svg = _parse(bar_chart([Bar("a", 10), Bar("b", 5), Bar("c", 0)], "Split"))
    widths = [float(r.attrib["width"]) for r in svg.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1]
    assert widths[2] == 0
    empty = _parse(bar_chart([Bar("a", 0)], "Split"))
    assert not list(empty.iter(f"{SVG}rect"))
    assert "Nothing yet" in _labels(empty)
    huge = _parse(bar_chart([Bar("a", 2**63 - 1), Bar("b", 1)], "Huge"))
    assert all(math.isfinite(float(r.attrib["width"])) for r in huge.iter(f"{SVG}rect"))


def test_columns_stand_on_zero_and_a_lost_day_hangs_below_it() -> None:
    from app.web.charts import column_chart

    svg = _parse(column_chart([Point(T0, 100), Point(T0 + timedelta(days=1), -50)], "Gained"))
    up, down = list(svg.iter(f"{SVG}rect"))
    assert abs(float(up.attrib["y"]) + float(up.attrib["height"]) - float(down.attrib["y"])) < 0.1
    assert abs(float(down.attrib["height"]) - float(up.attrib["height"]) / 2) < 0.1
    assert "No figures yet" in _labels(_parse(column_chart([], "Gained")))
