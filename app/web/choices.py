"""The campaigns a page offers to choose from (the posts table's and the analytics' filters,
the payments page's, the settings' key restrictions): read at most once every few seconds per
organization, reach and length in each process, as sessions are. Reading a posts page's 200
on every request was an eighth of its CPU beside its API twin, which reads none (issue 26).

Any write this process answers forgets them (`app.deps.ForgetKeptOnWrites`), so a campaign
made, renamed or deleted here is offered as it is on the very next page; one changed through
another process shows within the TTL, as a revoked API key stops working there."""

import uuid

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Recent
from app.repositories import campaigns as campaigns_repo

Kept = Recent[list[campaigns_repo.Choice]]


def kept() -> Kept:
    """A process's kept choices: up to 201 campaigns each (~60 KB), so fewer entries than a
    credential cache keeps (it empties when full)."""
    return Kept(max_entries=500)


async def campaigns(
    request: Request,
    session: AsyncSession,
    org: uuid.UUID,
    limit: int,
    only: frozenset[uuid.UUID] | None = None,
) -> list[campaigns_repo.Choice]:
    """`campaigns_repo.choices`, kept a few seconds (`app.state.campaign_choices`)."""
    reach = "all" if only is None else ",".join(sorted(map(str, only)))
    kept: Kept = request.app.state.campaign_choices
    return await kept.get(
        f"{org}:{limit}:{reach}",
        lambda: campaigns_repo.choices(session, org, limit, only),
    )
