"""Every change the dashboard makes goes through here: the API operation it is (by its
operation id), authorized by the same permission table as the API (app.domain.permissions:
a post outside the caller's reach reads as not found, an action its role does not allow is
refused), done by the same service, and recorded in the audit log under the same action.
Acting on several posts, each succeeds or fails alone (a savepoint each) and reports why."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.domain import audit as audit_actions
from app.domain import permissions as table
from app.domain.enums import Role
from app.domain.errors import DomainError
from app.errors import ApiError
from app.http.public import client_address
from app.repositories import audit
from app.repositories import permissions as permissions_repo


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


def can(principal: Principal, operation: str, campaign_id: uuid.UUID | None = None) -> bool:
    """Whether to offer an operation: on one campaign, or (without one) on any of the
    caller's campaigns. Offering is a courtesy; `on_posts` decides."""
    action = _action(operation)
    actor = principal.actor()
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


T = TypeVar("T")


def administers(principal: Principal) -> bool:
    """Whether the caller may do the organization's own admin operations (users, API keys,
    webhook endpoints, integrations), which are about no one campaign: as the API's `Admin`
    dependency decides them (app.deps.require), a caller restricted to some campaigns never,
    any other by its role."""
    return not principal.actor().restricted and principal.allows(Role.ADMIN)


def refusal() -> ApiError:
    """The API's answer to a caller its role does not allow an admin operation."""
    return ApiError(403, "forbidden", "Only an organization admin can change settings.")


async def on_org(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    operation: str,
    do: Callable[[], Awaitable[T]],
    subject: Callable[[T], object],
    details: dict[str, str] | None = None,
) -> T:
    """Does an organization-wide admin operation as the API does (its refusal, its audit
    record of `subject(result)`, the resource acted on), in a savepoint: a refused or failed
    action changes nothing."""
    if not administers(principal):
        raise refusal()
    async with session.begin_nested():
        result = await do()
        if operation in audit_actions.AUDITED:
            await record(request, session, principal, operation, subject(result), details)
    return result
