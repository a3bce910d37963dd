"""Every change the dashboard makes goes through here: the API operation it is (by its
operation id), authorized by the same permission table as the API (app.domain.permissions:
a post outside the caller's reach reads as not found, an action its role does not allow is
refused), done by the same service, and recorded in the audit log under the same action.
Acting on several posts, each succeeds or fails alone (a savepoint each) and reports why;
a change to one campaign (`on_campaign`) or to the organization (`on_org`) is authorized the
same way and raises what refused it."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.deps import operation_role
from app.domain import audit as audit_actions
from app.domain import permissions as table
from app.domain.enums import Role
from app.domain.errors import DomainError
from app.errors import ApiError, conflict_of
from app.http.public import client_address
from app.repositories import audit
from app.repositories import permissions as permissions_repo
from app.web.waiting import WaitingCounts

R = TypeVar("R")


@dataclass(frozen=True)
class Outcome:
    subject: uuid.UUID
    done: bool
    message: str


def _action(operation: str) -> table.Action:
    """The action an API operation needs: on its one campaign (OPERATIONS), or on each
    campaign whose records it touches (FILTERED, e.g. refresh_runs_create)."""
    action = table.OPERATIONS.get(operation)
    return table.FILTERED[operation] if action is None else action


def can(
    principal: Principal,
    operation: str,
    campaign_id: uuid.UUID | None = None,
    role: Role | None = None,
) -> bool:
    """Whether to offer an operation: on one campaign, or (without one) on any of the
    caller's campaigns. Offering is a courtesy; `on_posts`, `on_campaign` and `on_org`
    decide. An operation the table does not name is about no one campaign: the API refuses
    it to a restricted caller (default deny) and asks others for its route's `role`."""
    actor = principal.actor()
    if operation not in table.OPERATIONS and operation not in table.FILTERED:
        return role is not None and not actor.restricted and principal.allows(role)
    action = _action(operation)
    if campaign_id is not None:
        return table.allowed(actor, action, campaign_id) is table.Decision.ALLOW
    if not actor.restricted:
        return table.allowed(actor, action) is table.Decision.ALLOW
    return bool(table.within(actor, action))


async def record(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    operation: str,
    resource_id: object,
    details: dict[str, str] | None = None,
) -> None:
    """The audit record the API writes for the same operation (app.deps._audit)."""
    if operation not in audit_actions.AUDITED:
        return  # the API keeps no audit record of it either
    action, resource_type, _ = audit_actions.AUDITED[operation]
    await audit.record(
        session,
        principal.organization_id,
        action,
        resource_type,
        resource_id,
        actor_key_id=principal.key_id,
        actor_user_id=principal.user_id,
        client_address=client_address(request.scope),
        details=details,
    )


def _refusal(decision: table.Decision, action: table.Action) -> str:
    if decision is table.Decision.HIDE:
        return "No post with that id."
    return f"Your role does not allow {action.value} here."


async def authorize(
    session: AsyncSession, principal: Principal, operation: str, post_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, Outcome]]:
    """Each post the caller may `operation`, with its campaign (in the order given, each
    once), and an outcome for each post it may not (outside its reach or its organization
    reads as not found, as in the API)."""
    action = _action(operation)
    actor = principal.actor()
    campaigns = await permissions_repo.campaigns_of_posts(
        session, principal.organization_id, post_ids
    )
    allowed: dict[uuid.UUID, uuid.UUID] = {}
    refused: dict[uuid.UUID, Outcome] = {}
    for post_id in dict.fromkeys(post_ids):  # each once, in order
        campaign_id = campaigns.get(post_id)
        decision = (
            table.Decision.HIDE
            if campaign_id is None
            else table.allowed(actor, action, campaign_id)
        )
        if decision is table.Decision.ALLOW:
            assert campaign_id is not None
            allowed[post_id] = campaign_id
        else:
            refused[post_id] = Outcome(post_id, False, _refusal(decision, action))
    return allowed, refused


async def on_posts(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    operation: str,
    post_ids: Sequence[uuid.UUID],
    do: Callable[[uuid.UUID], Awaitable[object]],
    details: dict[str, str] | None = None,
) -> list[Outcome]:
    """Does `do` to each post the caller may `operation`, each in a savepoint; one outcome
    per post, in the order given."""
    allowed, refused = await authorize(session, principal, operation, post_ids)
    _changing(request, principal)
    outcomes = []
    for post_id in dict.fromkeys(post_ids):
        if post_id not in allowed:
            outcomes.append(refused[post_id])
            continue
        try:
            async with session.begin_nested():
                await do(post_id)
                await record(
                    request,
                    session,
                    principal,
                    operation,
                    post_id,
                    {"post_id": str(post_id), **(details or {})},
                )
        except (DomainError, ApiError) as exc:
            outcomes.append(Outcome(post_id, False, exc.detail))
        else:
            outcomes.append(Outcome(post_id, True, "Done."))
    return outcomes


def _changing(request: Request, principal: Principal) -> None:
    """What waits for a person may change: the page this change leads to counts it afresh."""
    waiting: WaitingCounts = request.app.state.waiting
    waiting.forget(principal.organization_id)


class Refused(DomainError):
    """The caller may not do this: `hidden` when the record is outside its reach (the API
    answers 404, as for another organization's), else its role does not allow it (403)."""

    def __init__(self, detail: str, *, hidden: bool = False) -> None:
        super().__init__("not_found" if hidden else "forbidden", detail)
        self.hidden = hidden


async def _done(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    operation: str,
    do: Callable[[], Awaitable[R]],
    resource_id: Callable[[R], object],
    details: dict[str, str] | None = None,
) -> R:
    """`do` in a savepoint (a refusal leaves the request's transaction usable for the page
    that says why), with the API's audit record; a unique violation is the API's 409."""
    _changing(request, principal)
    try:
        async with session.begin_nested():
            done = await do()
            await record(request, session, principal, operation, resource_id(done), details)
    except IntegrityError as exc:
        code, detail = conflict_of(exc)
        raise ApiError(409, code, detail) from None
    return done


async def on_campaign(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    operation: str,
    campaign_id: uuid.UUID,
    do: Callable[[], Awaitable[R]],
) -> R:
    """One change to one campaign (its terms, tiers or roster), as the API's `operation`
    makes it. Raises Refused, or what the service raised (DomainError, ApiError)."""
    action = _action(operation)
    decision = table.allowed(principal.actor(), action, campaign_id)
    if decision is table.Decision.HIDE:
        raise Refused("No campaign with that id.", hidden=True)
    if decision is not table.Decision.ALLOW:
        raise Refused(f"Your role does not allow {action.value} on this campaign.")
    return await _done(request, session, principal, operation, do, lambda _: campaign_id)


def administers(principal: Principal) -> bool:
    """Whether the caller may do the organization's own admin operations (users, API keys,
    webhook endpoints, integrations), which are about no one campaign: as the API's `Admin`
    dependency decides them (app.deps.require), a caller restricted to some campaigns never,
    any other by its role. The settings pages are offered and answered by this."""
    return not principal.actor().restricted and principal.allows(Role.ADMIN)


def refusal() -> ApiError:
    """The API's answer to a caller its role does not allow an admin operation."""
    return ApiError(403, "forbidden", "Only an organization admin can change settings.")


async def on_org(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    operation: str,
    do: Callable[[], Awaitable[R]],
    resource_id: Callable[[R], object] = lambda _: None,
    details: dict[str, str] | None = None,
) -> R:
    """One change about no one campaign (a campaign or creator created, an access code, a
    payout batch made, paid or cancelled), as the API's `operation` makes it, for the
    callers its route allows: for a restricted caller, the campaigns on which its roles
    allow it, which the service then applies. Raises Refused, or what the service raised."""
    if not can(principal, operation, role=operation_role(request.app, operation)):
        named = operation in table.OPERATIONS or operation in table.FILTERED
        raise Refused(f"Your role does not allow {_action(operation).value if named else 'this'}.")
    return await _done(request, session, principal, operation, do, resource_id, details)
