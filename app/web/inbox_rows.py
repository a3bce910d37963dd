"""The rows of the inbox's tables (/app), written here rather than in `inbox_items.html`, as
the posts table's are (app/web/post_rows.py): a row is a dozen values and a permission or
two, and Jinja's attribute lookups, filters and autoescaping made the rows a third of a
served inbox page's CPU (py-spy of a worker under bench.dashboard, issue 26). So are each
kind's count and its "more" line, which were the template's macros (see templating.render on
why a page's template defines none). The rest of the queue (kinds, groups, their forms and
table heads) stays in the template.

Every value that comes from the database or a caller (handles, names, URLs, reasons,
evidence, errors, import lines) goes through `_e`; ids, enum values and what is formatted
here are written as they are."""

from collections.abc import Callable
from html import escape as _e
from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from app.models import PostFlag, PostHold
from app.repositories.inbox import COUNT_BOUND, Item, Kind
from app.web.templating import day, label, moment, number, platform

Can = Callable[..., bool]  # Viewer.can: (operation, campaign_id) -> bool


def said(mark: PostHold | PostFlag | Any) -> str:
    """A hold's or flag's evidence in a line, in the platform's own numbers."""
    evidence: dict[str, Any] = getattr(mark, "evidence", None) or {}
    found, expected = evidence.get("found") or {}, evidence.get("expected") or {}
    if found.get("handle"):
        line = f"The platform says @{found['handle']} posted it"
        return line + (f"; the member is @{expected['handle']}." if expected.get("handle") else ".")
    snapshots = evidence.get("snapshots") or []
    views = [s.get("views") for s in snapshots if isinstance(s, dict)]
    if "factor" in evidence and len(views) > 1:
        before, after = number(views[0]), number(views[-1])
        return f"Views went from {before} to {after} (over {evidence['factor']} times)."
    if "locked_views" in evidence and views:
        return f"Locked at {number(evidence['locked_views'])} views; now {number(views[-1])}."
    if "likes" in evidence and views:
        return (
            f"{number(evidence['likes'])} likes and {number(evidence.get('comments'))} comments "
            f"on {number(views[-1])} views."
        )
    if evidence.get("published_at"):
        return f"Published {evidence['published_at'][:10]}."
    return ""


def count(kind: Kind) -> str:
    """A kind's count, as far as it was counted: "1,000+" past the bound."""
    return number(kind.count) if kind.count <= COUNT_BOUND else f"{number(COUNT_BOUND)}+"


def more(kind: Kind, name: str, showing: list[str], wide: int) -> Markup:
    """The line under a kind that shows fewer than wait, with the link that shows up to `wide`
    of them (none for a kind that has no wider view, `name` "", or one already wide)."""
    if not kind.more:
        return Markup("")
    many = number(kind.more) if kind.count <= COUNT_BOUND else "Many"
    wider = (
        f', or <a href="/app?show={name}" hx-get="/app/inbox/items?show={name}" '
        f'hx-target="#inbox" hx-swap="innerHTML">show up to {number(wide)}</a>'
        if name and name not in showing
        else ""
    )
    return Markup(
        f'<p class="muted small more">{many} more, older ones first: act on these to see them'
        f"{wider}.</p>"
    )


def _post(item: Item) -> str:
    """The post's cell: who posted it, on which platform, in which campaign, and the video."""
    post: Any = item.post
    kind = post.platform.value
    return (
        f'<td><a href="/app/posts/{post.id}">@{_e(item.handle)}</a> '
        f'<span class="badge {kind}">{platform(kind)}</span>'
        f'<div class="small muted">{_e(item.campaign.name)} · '
        f'<a href="{_e(post.url)}" rel="noreferrer">video</a></div></td>'
    )


def _select(item: Item, form: str) -> str:
    post: Any = item.post
    return (
        f'<input type="checkbox" name="post_id" value="{post.id}" form="{form}" '
        f'aria-label="Select @{_e(item.handle)}\'s post">'
    )


def _button(item: Item, text: str, operation: str, include: str = "", code: str = "") -> str:
    """One item's action: the API operation, with the group's reason or choice (`include`)
    and its code (`code`: the group's, as JSON, written once a group)."""
    post: Any = item.post
    included = f' hx-include="#{include}"' if include else ""
    danger = ' class="danger"' if operation == "reject" else ""
    extra = f', "code": {code}' if code else ""
    return (
        f'<button type="button" hx-post="/app/posts/act" hx-target="#outcomes"{included}{danger} '
        f"""hx-vals='{{"operation": "{operation}", "post_id": "{post.id}"{extra}}}' """
        f'aria-label="{text}: @{_e(item.handle)}\'s post">{text}</button>'
    )


def _why(mark: Any) -> str:
    line = said(mark)
    evidence = f'<div class="small evidence">{_e(line)}</div>' if line else ""
    return f'<td class="why">{_e(mark.reason)}{evidence}</td>'


def _marked(
    group: Any, can: Can, operation: str, action: tuple[str, str, str], middle: Callable[[Any], str]
) -> Markup:
    """A hold's or a flag's posts (one code): each with the mark's reason, evidence and date
    and, where the viewer may `operation` on its campaign, the group's action (`action`: its
    form value, its button's text, the group's field it sends)."""
    acting = can(operation)
    value, text, field = action
    code = htmlsafe_json_dumps(group.code)
    out = []
    for item in group.items:
        may = acting and can(operation, item.campaign.id)
        select = _select(item, group.id) if may else ""
        button = _button(item, text, value, f"{group.id}-{field}", code) if may else ""
        out.append(
            "<tr>"
            + (f"<td>{select}</td>" if acting else "")
            + _post(item)
            + middle(item.post)
            + _why(item.mark)
            + f'<td class="nowrap">{day(item.mark.raised_at)}</td>'
            + (f"<td>{button}</td>" if acting else "")
            + "</tr>\n"
        )
    return Markup("".join(out))


def _status(post: Any) -> str:
    locked = (
        f'<div class="small muted">{number(post.locked_views)} locked views</div>'
        if post.locked_views is not None
        else ""
    )
    return f'<td><span class="badge {post.status.value}">{label(post.status)}</span>{locked}</td>'


def held(group: Any, can: Can) -> Markup:
    """A hold code's posts, each cleared with the group's reason."""
    return _marked(group, can, "posts_holds_clear", ("clear_hold", "Clear", "reason"), _status)


def flagged(group: Any, can: Can) -> Markup:
    """A flag code's posts, with their views, each resolved with the group's note."""

    def views(post: Any) -> str:
        return f'<td class="num">{number(post.views)}</td>'

    return _marked(group, can, "posts_flags_resolve", ("resolve_flag", "Resolve", "note"), views)


def pending(group: Any, acting: bool) -> Markup:
    """One campaign's pending_cpm posts, each assigned the group's chosen tier."""
    out = []
    for item in group.items:
        post = item.post
        out.append(
            "<tr>"
            + (f"<td>{_select(item, group.id)}</td>" if acting else "")
            + _post(item)
            + f'<td class="num">{number(post.locked_views)}</td>'
            + f'<td class="nowrap">{day(post.locked_observed_at)}</td>'
            + (
                f"<td>{_button(item, 'Assign', 'assign_tier', group.id + '-tier')}</td>"
                if acting
                else ""
            )
            + "</tr>\n"
        )
    return Markup("".join(out))


def refused(group: Any, can: Can) -> Markup:
    """Posts the platform keeps refusing: fetched again, or rejected with the group's reason."""
    refreshing, rejecting = can("refresh_runs_create"), can("posts_reject")
    acting = refreshing or rejecting
    out = []
    for item in group.items:
        post = item.post
        error = f'<div class="small muted">{_e(post.last_error)}</div>' if post.last_error else ""
        actions = ""
        if acting:
            if can("refresh_runs_create", item.campaign.id):
                actions += _button(item, "Refresh", "refresh")
            if can("posts_reject", item.campaign.id):
                actions += _button(item, "Reject", "reject", group.id + "-reason")
        out.append(
            "<tr>"
            + (f"<td>{_select(item, group.id)}</td>" if acting else "")
            + _post(item)
            + f'<td><span class="badge">{label(post.last_error_code)}</span>{error}</td>'
            + f'<td class="num">{number(post.consecutive_failures)}</td>'
            + f'<td class="nowrap">{moment(post.last_error_at)}</td>'
            + (f'<td class="actions">{actions}</td>' if acting else "")
            + "</tr>\n"
        )
    return Markup("".join(out))


def failed_lines(group: Any) -> Markup:
    """This week's import lines that were not added, each with why."""
    out = []
    for item in group.items:
        line = item.mark
        detail = f'<div class="small muted">{_e(line.detail)}</div>' if line.detail else ""
        out.append(
            f"<tr><td>{_e(item.campaign.name)}</td>"
            f'<td class="num">{line.line}</td>'
            f'<td class="url">{_e(line.url)}</td>'
            f'<td><span class="badge">{label(line.outcome)}</span>{detail}</td>'
            f'<td class="nowrap">{moment(line.handled_at)}</td></tr>\n'
        )
    return Markup("".join(out))
