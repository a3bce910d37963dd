"""The rows of the posts table (/app/posts), written here rather than in its template: a row
is some twenty values, and Jinja's autoescaping, attribute lookups and filters cost ~50 µs a
row, the largest part of the page (a page of 50 rows took longer to render than the JSON API
took to answer the same query). The same HTML from an f-string costs a tenth of that.

Every value that comes from the database or a caller (ids, handles, names, URLs, reasons)
goes through `_e`; what is ours (enum values, formatted numbers and dates) is written as is.
The rest of the table (headers, filters, pager) stays in `posts_results.html`."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape as _e
from typing import Any

from markupsafe import Markup

from app.web.templating import day, label, money, number, platform


@dataclass(frozen=True, slots=True)
class Line:
    """A row of the table: the post's columns by name (a row of the list's query, or of its
    plain read, where ids are text) with its creator's `handle`; its campaign's name and
    currency; its open holds (each with a code and a reason)."""

    post: Mapping[str, Any]
    campaign: str
    currency: str
    holds: Sequence[Any] = ()


# The video's id in its cell, cut like the template's `truncate(11, True, '…', 0)`.
_ID_LENGTH = 11


def _short(post_id: str) -> str:
    return post_id if len(post_id) <= _ID_LENGTH else post_id[: _ID_LENGTH - 1] + "…"


def _row(line: Line, by_creator: str, selectable: bool) -> str:
    p = line.post
    post_id = p["id"]
    handle = _e(p["handle"])
    video = _e(p["platform_post_id"])
    # StrEnum members or their text, as the read gave them: the value either way.
    kind, status = str(p["platform"]), str(p["status"])
    name = platform(kind)
    select = (
        f'<td><input type="checkbox" name="post_id" value="{post_id}" form="bulk" '
        f'aria-label="Select @{handle}\'s post {video}"></td>'
        if selectable
        else ""
    )
    tags = "".join(
        f'<span class="tag warn" title="{_e(h.reason)}">Hold: {_e(label(h.code))}</span>'
        for h in line.holds
    ) + "".join(f'<span class="tag">Flag: {label(f)}</span>' for f in p["flags"])
    if p["rejection_reason"]:
        tags += f'<span class="small muted block">{_e(p["rejection_reason"])}</span>'
    return (
        f"<tr>{select}"
        f'<td class="nowrap"><span class="badge {kind}">{name}</span> '
        f'<a href="{_e(by_creator)}{p["creator_id"]}" title="Only this creator\'s posts">'
        f"@{handle}</a></td>"
        f'<td class="wrap">{_e(line.campaign)}</td>'
        f'<td class="nowrap"><a href="/app/posts/{post_id}">'
        f"{_e(_short(p['platform_post_id']))}</a> "
        f'<a href="{_e(p["url"])}" target="_blank" rel="noopener noreferrer" '
        f'aria-label="Open the video on {name}">↗</a></td>'
        f'<td class="nowrap">{day(p["published_at"])}</td>'
        f'<td class="num">{number(p["views"])}</td>'
        f'<td class="num">{number(p["likes"])}</td>'
        f'<td class="num">{number(p["comments"])}</td>'
        f'<td class="num">{number(p["shares"])}</td>'
        f'<td><span class="badge {status}">{label(status)}</span>{tags}</td>'
        f'<td class="num">{_e(money(p["earnings"], line.currency))}</td>'
        "</tr>\n"
    )


def rows(lines: Iterable[Line], by_creator: str, selectable: bool) -> Markup:
    """The table body's rows. `by_creator`: the address a creator's handle links to, ending
    where the creator's id goes; `selectable`: a checkbox per row for the bulk actions."""
    return Markup("".join(_row(line, by_creator, selectable) for line in lines))
