"""What the dashboard's HTTP tests share: people signed in to the dashboard (a session
cookie and its CSRF token, as a browser holds them), and posts put in the states that wait
for a person (held, flagged, pending_cpm, refused by the platform) the way the engine
leaves them: through the repositories that raise holds and flags."""

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.refresh import NewMark
from app.models import Post
from app.repositories import flags, holds
from tests import factories as f
from tests.browser.dashboard_kit import PASSWORD, add_user


async def signed_in(
    app: object,
    admin: httpx.AsyncClient,
    email: str,
    role: str = "admin",
    campaign_roles: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """A user of the admin key's organization, signed in: a client with their session
    cookie, sending the session's CSRF token on every request as the dashboard's htmx does.
    The address is made unique (`ops@example.com` signs in as `ops+1a2b3c4d@example.com`):
    the sign-in budgets, per account and per address, outlive each test's rollback."""
    local, domain = email.split("@")
    email = f"{local}+{secrets.token_hex(4)}@{domain}"
    user = await add_user(admin, email, role)
    for campaign_id, campaign_role in (campaign_roles or {}).items():
        path = f"/v1/campaigns/{campaign_id}/roles/{user['id']}"
        await f.ok(await admin.put(path, json={"role": campaign_role}))
    # Each from an address of their own: every test client would otherwise be 127.0.0.1.
    address = f"127.0.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50000)),  # type: ignore[arg-type]
        base_url="http://test",
    )
    body = {"email": email, "password": PASSWORD}
    session = await f.ok(await client.post("/v1/session", json=body))
    client.headers["X-CSRF-Token"] = session["csrf_token"]
    return client


async def set_post(session: AsyncSession, post_id: str, **values: Any) -> None:
    await session.execute(update(Post).where(Post.id == uuid.UUID(post_id)).values(**values))
    await session.commit()


async def _mark(
    session: AsyncSession,
    post: dict[str, Any],
    code: str,
    reason: str,
    evidence: dict[str, Any] | None,
) -> NewMark:
    post_id = uuid.UUID(post["id"])
    org = await session.scalar(select(Post.organization_id).where(Post.id == post_id))
    assert org is not None
    return NewMark(post_id, org, code, reason, evidence or {})


async def hold(
    session: AsyncSession,
    post: dict[str, Any],
    code: str = "author_mismatch",
    reason: str = "Posted by someone else.",
    evidence: dict[str, Any] | None = None,
    *,
    views: int = 2_000,
) -> None:
    """The post held at its deadline with an open hold, its views locked."""
    mark = await _mark(session, post, code, reason, evidence)
    await holds.raise_many(session, [mark], datetime.now(UTC))
    await set_post(
        session,
        post["id"],
        status=PostStatus.HELD,
        views=views,
        locked_views=views,
        locked_observed_at=datetime.now(UTC),
    )


async def flag(
    session: AsyncSession,
    post: dict[str, Any],
    code: str = "view_spike",
    reason: str = "Views jumped.",
    evidence: dict[str, Any] | None = None,
) -> None:
    mark = await _mark(session, post, code, reason, evidence)
    await flags.raise_many(session, [mark], datetime.now(UTC))
    await session.commit()


async def pending_cpm(session: AsyncSession, post: dict[str, Any], views: int = 1_500) -> None:
    await set_post(
        session,
        post["id"],
        status=PostStatus.PENDING_CPM,
        cpm_tier_id=None,
        views=views,
        locked_views=views,
        locked_observed_at=datetime.now(UTC),
    )
