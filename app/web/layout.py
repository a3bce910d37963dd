"""What every signed-in page shows around its content: who is signed in, their
organization, the navigation (with what waits for a person) and the session's CSRF token,
which htmx sends on every write (app.deps checks it as it does for /v1)."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.deps import operation_role
from app.domain.enums import OrgRole
from app.domain.permissions import Action
from app.repositories import inbox, users
from app.web import actions
from app.web.session import User as SignedIn
from app.web.templating import render
from app.web.waiting import WaitingCounts


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    user: users.SignedUser
    organization: users.SignedOrganization
    app: Any = field(repr=False)  # whose routes declare the roles of org-wide operations
    # What `can` answered, by (operation, campaign): a page asks the same of many rows.
    _answers: dict[tuple[str, uuid.UUID | None], bool] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def csrf_token(self) -> str:
        assert self.principal.csrf_token is not None
        return self.principal.csrf_token

    @property
    def is_admin(self) -> bool:
        return self.user.role is OrgRole.ADMIN

    def can(self, operation: str, campaign_id: uuid.UUID | None = None) -> bool:
        """Whether to offer an API operation (by its id) here; see actions.can."""
        answer = self._answers.get((operation, campaign_id))
        if answer is None:
            role = operation_role(self.app, operation)
            answer = actions.can(self.principal, operation, campaign_id, role)
            self._answers[operation, campaign_id] = answer
        return answer


async def _viewer(request: Request, principal: SignedIn) -> Viewer:
    # Read with the session that signed this request in (app.deps._session_caller).
    live: users.Live = request.state.signed_in
    assert live.user.id == principal.user_id
    return Viewer(principal, live.user, live.organization, request.app)


Page = Annotated[Viewer, Depends(_viewer)]


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str
    count: int | None = None
    current: bool = False


async def _counts(
    request: Request, session: AsyncSession, me: Viewer, waiting: int | None
) -> dict[str, int]:
    """The numbers beside the navigation's items (what waits for a person): each kind of
    the inbox counted up to a bound, through the indexes its queue reads, at most once every
    few seconds (app.web.waiting); `waiting` when the page has just counted them itself (the
    inbox)."""
    counts: WaitingCounts = request.app.state.waiting
    only = me.principal.within(Action.CAMPAIGN_READ)
    org = me.principal.organization_id
    if waiting is not None:
        counts.put(org, only, waiting)
        return {"inbox": waiting}

    async def count() -> int:
        return await inbox.count(session, org, only, datetime.now(UTC))

    return {"inbox": await counts.get(org, only, count)}


# key, label, where, and the API operation a viewer must be able to call to be offered it
# (None: everyone signed in).
NAV: tuple[tuple[str, str, str, str | None], ...] = (
    ("inbox", "Needs attention", "/app", None),
    ("posts", "Posts", "/app/posts", None),
    ("track", "Track videos", "/app/track", None),
    ("analytics", "Analytics", "/app/analytics", None),
    ("payments", "Payments", "/app/payments", "payouts_list"),
    # A member with no campaign role has no campaign and no creator to list.
    ("campaigns", "Campaigns", "/app/campaigns", "campaigns_list"),
    ("creators", "Creators", "/app/creators", "creators_list"),
    # The organization's admin operations (team, keys, webhooks, integrations).
    ("settings", "Settings", "/app/settings", "users_list"),
)


async def page(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    current: str = "",
    status_code: int = 200,
    waiting: int | None = None,
) -> HTMLResponse:
    """A signed-in page: its template inside the layout (navigation, user menu). `waiting`:
    the inbox's count, when the page already has it."""
    counts = await _counts(request, session, me, waiting)
    nav = [
        NavItem(key, label, href, counts.get(key), key == current)
        for key, label, href, operation in NAV
        if operation is None or me.can(operation)
    ]
    return render(request, template, {"me": me, "nav": nav, **(context or {})}, status_code)
