"""Rendering the dashboard's pages: one Jinja2 environment (autoescaped), the filters that
format numbers the way the API's numbers read, and the headers every page carries."""

import base64
import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from app.domain.enums import PLATFORM_NAMES

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# No inline script or style anywhere (htmx's own indicator style is turned off by the page's
# htmx-config), nothing from another origin; charts are inline SVG drawn with attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def number(value: int | Decimal | None) -> str:
    return "—" if value is None else f"{value:,}"


def money(value: Decimal | str | None, currency: str | None = None) -> str:
    if value is None:
        return "—"
    amount = f"{Decimal(value):,.2f}"
    return f"{amount} {currency}" if currency else amount


def cpm(value: Decimal | str | None) -> str:
    """A tier's CPM to the places it was set (it is kept to four), at least two: "4.50",
    "0.0025", "1,200.00". Shown as money (two places) it read 0.0025 as 0.00 and told
    apart no tiers that differ below a cent."""
    if value is None:
        return "—"
    whole, _, places = f"{Decimal(value):,f}".partition(".")
    return f"{whole}.{places.rstrip('0'):0<2}"


def percent(value: Decimal | None, signed: bool = False) -> str:
    """A ratio with four places (the API's rates and changes) as a percentage, exactly:
    "0.0525" reads 5.25%, a change of "-0.1250" reads -12.50%."""
    if value is None:
        return "—"
    return f"{value * 100:{'+' if signed else ''}.2f}%"


def moment(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def day(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d")


@functools.lru_cache(maxsize=1024)
def label(value: object) -> str:
    """An enum's value as words: `pending_cpm` reads "Pending CPM". Remembered: a page asks
    for the same few labels on every row."""
    text = str(getattr(value, "value", value)).replace("_", " ")
    return text[:1].upper() + text[1:].replace("cpm", "CPM")


_PLATFORMS = {p.value: name for p, name in PLATFORM_NAMES.items()}


@functools.lru_cache(maxsize=64)
def platform(value: object) -> str:
    """A platform's name as its owner spells it."""
    key = str(getattr(value, "value", value))
    return _PLATFORMS.get(key, label(key))


def amounts(rows: Iterable[Any], empty: str = "—") -> Markup:
    """Sums in several currencies (each with an `amount` and a `currency`), one a line."""
    lines = [f'<span class="nowrap">{money(t.amount, escape(t.currency))}</span>' for t in rows]
    return Markup("<br>".join(lines) if lines else escape(empty))


def posts_in(rows: Iterable[Any]) -> str:
    """How many posts these rows (each with a count of `posts`) hold: "1 post", "12 posts"."""
    n = sum(row.posts for row in rows)
    return f"{number(n)} post{'' if n == 1 else 's'}"


def svg_data_uri(svg: str) -> str:
    """An SVG made elsewhere (a QR code), as an image source: the page's policy allows
    data: images but no inline style, which such an SVG may carry."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def campaign_options(campaigns: Iterable[Any], selected: object = None) -> Markup:
    """A campaign filter's options (each with an `id` and a `name`), `selected` chosen.
    Written here, not in a template loop: a page lists up to 200 campaigns, and Jinja's
    attribute lookups and escaping cost ~5 µs an option, on every page that filters."""
    chosen = str(selected) if selected is not None else None
    return Markup(
        "".join(
            f'<option value="{c.id}"{" selected" if str(c.id) == chosen else ""}>'
            f"{escape(c.name)}</option>"
            for c in campaigns
        )
    )


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates ship with the code and change only with a deploy: compiled once per
    # process, never checked against the disk again on each render.
    auto_reload=False,
)
_env.filters.update(
    number=number,
    money=money,
    cpm=cpm,
    moment=moment,
    day=day,
    label=label,
    platform=platform,
    percent=percent,
    svg_data_uri=svg_data_uri,
    amounts=amounts,
    posts_in=posts_in,
)
_env.globals["campaign_options"] = campaign_options


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A template (a whole page, or the fragment an htmx request swaps in).

    A template rendered here defines no macro (shared ones are imported, which Jinja builds
    once and keeps): a macro defined in the page closes over the page's context, which holds
    the macro, so everything the page was given (its rows, the request) outlives the response
    in a reference cycle until the collector runs, and served at 10 users at once those
    collections stalled a worker for 25-90 ms twice a second (issue 26's p99)."""
    body = _env.get_template(template).render(request=request, **(context or {}))
    return HTMLResponse(body, status_code, headers={**PAGE_HEADERS, **(headers or {})})
