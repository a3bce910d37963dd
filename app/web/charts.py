"""Charts drawn by the server as inline SVG: pure functions from numbers to markup. No script
and no style attribute (the page's policy forbids inline style): geometry is presentation
attributes, colour comes from classes in app.css. Every chart is shown beside a table of
the same numbers, for screen readers and for copying; the SVG's own title says it in words."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from markupsafe import Markup, escape

WIDTH, HEIGHT = 360, 150
# Room for the value labels on the left and the date labels below.
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 12, 26


@dataclass(frozen=True)
class Point:
    at: datetime
    value: int


def compact(value: int) -> str:
    """An axis label that fits: 950, 12.5K, 3M, 9.2E18 (a table beside has every digit)."""
    if value < 1000:
        return str(value)
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if value >= size:
            if value >= size * 1000:  # beyond trillions: not worth a word
                return f"{value:.1E}".replace("E+", "E")
            whole, part = divmod(value * 10 // size, 10)
            return f"{whole}{'.' + str(part) if part and whole < 100 else ''}{suffix}"
    raise AssertionError("unreachable")


def nice_top(value: int) -> int:
    """The axis's top: the smallest 1, 2 or 5 times a power of ten at or above the highest
    value (exact for any size of int; 1 when every value is 0, so nothing divides by 0)."""
    if value <= 1:
        return 1
    magnitude: int = 10 ** (len(str(value)) - 1)
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


# A post's page draws four charts over the same instants; strftime was a third of a chart.
@lru_cache(maxsize=4096)
def _when(at: datetime, with_time: bool) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%b %d %H:%M") if with_time else at.strftime("%b %d")


def _svg(title: str, height: int) -> str:
    """A chart's opening tag: as wide as the others, `height` tall, named for screen readers."""
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">'
    )


def _empty(title: str, height: int, saying: str) -> Markup:
    """A chart with nothing to draw, saying so."""
    return Markup(
        f"{_svg(title, height)}<title>{title}: {saying.lower()}</title>"
        f'<text class="chart-empty" x="{WIDTH / 2:g}" y="{height / 2 + 4:g}" '
        f'text-anchor="middle">{saying}</text></svg>'
    )


def line_chart(points: Sequence[Point], label: str) -> Markup:
    """`points` (oldest first) as a line with a dot per point: time across, from the first
    point to the last; the value up, from 0 to a round top. No points: a chart saying so.
    One point (or all at one instant): in the middle."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    title = escape(label)
    parts = [_svg(title, HEIGHT)]
    if not points:
        return _empty(title, HEIGHT, "No figures yet")
    first, last = points[0].at, points[-1].at
    span = (last - first).total_seconds()
    with_time = last - first < timedelta(days=3)
    top = nice_top(max(p.value for p in points))

    def x(at: datetime) -> float:
        if span <= 0:
            return LEFT + plot_w / 2
        return LEFT + plot_w * (at - first).total_seconds() / span

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * (value / top)  # int / int: exact for huge ints

    said = f"{label}: {points[0].value:,} on {_when(first, with_time)}"
    if len(points) > 1:
        said += f" to {points[-1].value:,} on {_when(last, with_time)}"
    parts.append(f"<title>{escape(said)}</title>")
    bottom, right = TOP + plot_h, LEFT + plot_w
    for value in (0, top):
        at_y = y(value)
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" y1="{at_y:.1f}" x2="{right}" y2="{at_y:.1f}"/>'
            f'<text class="chart-label" x="{LEFT - 6}" y="{at_y + 4:.1f}" '
            f'text-anchor="end">{compact(value)}</text>'
        )
    labels = [(first, "middle")] if span <= 0 else [(first, "start"), (last, "end")]
    for at, anchor in labels:
        parts.append(
            f'<text class="chart-label" x="{x(at):.1f}" y="{bottom + 18}" '
            f'text-anchor="{anchor}">{escape(_when(at, with_time))}</text>'
        )
    # Each point's place written once, for the line and for its dot. A dot's tip is a date
    # and digits: nothing in it to escape (a post's page draws four charts of every point).
    coords = [(f"{x(p.at):.1f}", f"{y(p.value):.1f}") for p in points]
    if len(points) > 1:
        line = " ".join(f"{cx},{cy}" for cx, cy in coords)
        parts.append(f'<polyline class="chart-line" fill="none" points="{line}"/>')
    parts += [
        f'<circle class="chart-point" cx="{cx}" cy="{cy}" r="3">'
        f"<title>{_when(p.at, True)}: {p.value:,}</title></circle>"
        for p, (cx, cy) in zip(points, coords, strict=True)
    ]
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    kind: str = ""  # a class suffix for its colour (a status, a platform); "" the accent


def bar_chart(bars: Sequence[Bar], label: str) -> Markup:
    """One horizontal bar per entry, in the order given, each as long as its share of the
    largest (a split: posts by status, views by platform or creator), with its value at its
    end. Every value 0, or no entries: a chart saying so. Values are never negative."""
    row, gap, name_w, value_w = 22, 6, 110, 60
    height = max(len(bars), 1) * (row + gap) + gap
    title = escape(label)
    parts = [_svg(title, height)]
    top = max((b.value for b in bars), default=0)
    if top <= 0:
        return _empty(title, height, "Nothing yet")
    said = "; ".join(f"{b.label} {b.value:,}" for b in bars)
    parts.append(f"<title>{escape(f'{label}: {said}')}</title>")
    span = WIDTH - name_w - value_w
    for n, bar in enumerate(bars):
        y = gap + n * (row + gap)
        width = span * bar.value / top  # int / int: exact for huge ints
        kind = f" bar-{bar.kind}" if bar.kind else ""
        name = bar.label if len(bar.label) <= 16 else bar.label[:15] + "…"
        parts.append(
            f'<text class="chart-label" x="{name_w - 6}" y="{y + row / 2 + 4:g}" '
            f'text-anchor="end">{escape(name)}</text>'
            f'<rect class="chart-bar{kind}" x="{name_w}" y="{y}" width="{width:.1f}" '
            f'height="{row}"><title>{escape(f"{bar.label}: {bar.value:,}")}</title></rect>'
            f'<text class="chart-label" x="{name_w + width + 4:.1f}" y="{y + row / 2 + 4:g}">'
            f"{compact(bar.value)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(points: Sequence[Point], label: str) -> Markup:
    """One column per point (a day), oldest on the left, up from 0 (or down, for a day that
    lost views: a drop the platform confirmed), the axis from the lowest to a round top."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    title = escape(label)
    parts = [_svg(title, HEIGHT)]
    if not points:
        return _empty(title, HEIGHT, "No figures yet")
    top = nice_top(max(max(p.value for p in points), 0))
    lowest = min(min(p.value for p in points), 0)
    bottom_value = -nice_top(-lowest) if lowest < 0 else 0
    span = top - bottom_value

    def y(value: int) -> float:
        return TOP + plot_h * (top - value) / span  # ints: exact for huge values

    total = sum(p.value for p in points)
    parts.append(f"<title>{escape(f'{label}: {total:,} over {len(points)} days')}</title>")
    for value in dict.fromkeys((bottom_value, 0, top)):
        at_y = y(value)
        parts.append(
            f'<line class="chart-grid" x1="{LEFT}" y1="{at_y:.1f}" x2="{LEFT + plot_w}" '
            f'y2="{at_y:.1f}"/><text class="chart-label" x="{LEFT - 6}" y="{at_y + 4:.1f}" '
            f'text-anchor="end">{"-" if value < 0 else ""}{compact(abs(value))}</text>'
        )
    slot = plot_w / len(points)
    width = max(slot * 0.7, 1.0)
    zero = y(0)
    for n, point in enumerate(points):
        x = LEFT + n * slot + (slot - width) / 2
        at = y(point.value)
        tip = escape(f"{_when(point.at, False)}: {point.value:,}")
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{min(at, zero):.1f}" width="{width:.1f}" '
            f'height="{abs(zero - at):.1f}"><title>{tip}</title></rect>'
        )
    base = TOP + plot_h
    ends = [(points[0].at, "start")] + ([(points[-1].at, "end")] if len(points) > 1 else [])
    for day, anchor in ends:
        end_x = LEFT if anchor == "start" else LEFT + plot_w
        parts.append(
            f'<text class="chart-label" x="{end_x:.1f}" y="{base + 18}" '
            f'text-anchor="{anchor}">{escape(_when(day, False))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
