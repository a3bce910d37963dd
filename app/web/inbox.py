"""Needs attention, the dashboard's home at /app: one queue of what waits for a person,
oldest first, grouped by kind (app.repositories.inbox), each item with the action the API
offers for it (through app.web.post_actions) where the viewer's role allows it."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.deps import Session
from app.domain.permissions import Action
from app.repositories import inbox
from app.web import inbox_rows
from app.web.layout import Page, Viewer, page
from app.web.templating import label, render

router = APIRouter()

# Items shown per kind; past it, the kind says how many more wait (oldest first, so what
# waits longest is always on screen) and offers to show up to WIDE of that kind. A few
# dozen rows a kind is a morning's work and keeps the page quick; each row costs the page
# about as much as a post costs the API's list.
CAP = 20
WIDE = 200


@dataclass(frozen=True)
class Group:
    """Items of one kind acted on together: one hold or flag code, one campaign's
    pending_cpm posts (its tiers), the refused posts, the failed import lines."""

    id: str
    kind: str
    title: str
    items: list[inbox.Item]
    tiers: list[Any] = field(default_factory=list)  # inbox.Inbox.tiers' rows
    code: str = ""


def _by(items: list[inbox.Item], key: Any) -> dict[Any, list[inbox.Item]]:
    groups: dict[Any, list[inbox.Item]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def groups(box: inbox.Inbox) -> dict[str, list[Group]]:
    """Each kind's groups, in the order their oldest item arrived."""
    holds = _by(box.holds.items, lambda i: i.mark.code)
    flags = _by(box.flags.items, lambda i: i.mark.code)
    pending = _by(box.pending_cpm.items, lambda i: i.campaign.id)
    return {
        "holds": [
            Group(f"hold-{code}", "holds", label(code), items, code=code)
            for code, items in holds.items()
        ],
        "flags": [
            Group(f"flag-{code}", "flags", label(code), items, code=code)
            for code, items in flags.items()
        ],
        "pending_cpm": [
            Group(f"pending-{cid}", "pending_cpm", items[0].campaign.name, items, box.tiers[cid])
            for cid, items in pending.items()
        ],
        "refused": [Group("refused", "refused", "Refused", box.refused.items)]
        if box.refused.items
        else [],
        "failed_lines": [Group("lines", "failed_lines", "Failed", box.failed_lines.items)]
        if box.failed_lines.items
        else [],
    }


# `show`: kinds to show up to WIDE of (the "show more" link; anything else is ignored).
Show = Annotated[list[str] | None, Query(max_length=len(inbox.KINDS))]


async def _context(session: Session, me: Viewer, show: list[str] | None) -> dict[str, Any]:
    showing = [kind for kind in inbox.KINDS if kind in (show or ())]
    box = await inbox.read(
        session,
        me.principal.organization_id,
        me.principal.within(Action.CAMPAIGN_READ),
        datetime.now(UTC),
        CAP,
        dict.fromkeys(showing, WIDE),
    )
    return {
        "box": box,
        "groups": groups(box),
        "rows": inbox_rows,
        "showing": showing,
        "wide": WIDE,
    }


@router.get("/app")
async def inbox_page(request: Request, session: Session, me: Page, show: Show = None) -> Response:
    context = await _context(session, me, show)
    waiting = context["box"].total  # the navigation's number, counted by the same read
    return await page(request, session, me, "inbox.html", context, current="inbox", waiting=waiting)


@router.get("/app/inbox/items")
async def inbox_items(request: Request, session: Session, me: Page, show: Show = None) -> Response:
    """The queue alone: reloaded after an action (the page listens for posts-changed), or
    with a kind shown wider (`show`)."""
    context = await _context(session, me, show)
    return render(request, "inbox_items.html", {"me": me, **context})
