import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, display_prefix, generate_key, hash_key
from app.domain.enums import Role
from app.domain.errors import Conflict
from app.models import ApiKey, Organization
from app.repositories.common import lock_organization
from app.repositories.pagination import Sort, fetch_page


async def authenticate(session: AsyncSession, key: str) -> Principal | None:
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.organization_id, ApiKey.role, ApiKey.campaign_ids).where(
                ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    scope = None if row.campaign_ids is None else frozenset(row.campaign_ids)
    return Principal(row.id, row.organization_id, Role(row.role), campaign_ids=scope)


async def count_usable_locked(session: AsyncSession, organization_id: uuid.UUID) -> int:
    """The organization's unrevoked keys, counted under a lock on the organization's row
    (FOR NO KEY UPDATE: inserts that reference it are not blocked), so two creates at once
    cannot both see room for one more; the lock lasts until the transaction ends."""
    await lock_organization(session, organization_id)
    count = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.organization_id == organization_id,
            ApiKey.revoked_at.is_(None),
            ApiKey.user_id.is_(None),  # users' own key rows are not keys to count
        )
    )
    return int(count or 0)


async def create(
    session: AsyncSession,
    organization_id: uuid.UUID,
    role: Role,
    name: str = "",
    campaign_ids: list[uuid.UUID] | None = None,
) -> tuple[ApiKey, str]:
    """Returns the row and the plaintext key, which is never stored and never shown again."""
    key = generate_key()
    row = ApiKey(
        organization_id=organization_id,
        role=role.value,
        name=name,
        prefix=display_prefix(key),
        key_hash=hash_key(key),
        campaign_ids=campaign_ids,
    )
    session.add(row)
    await session.flush()
    return row, key


async def create_organization(session: AsyncSession, name: str) -> tuple[Organization, str]:
    org = Organization(name=name)
    session.add(org)
    await session.flush()
    _, key = await create(session, org.id, Role.ADMIN, "admin")
    return org, key


async def list_page(
    session: AsyncSession, organization_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[ApiKey], str | None]:
    """Oldest first."""
    stmt = select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.user_id.is_(None))
    return await fetch_page(session, stmt, ApiKey.id, Sort(None, False), cursor, limit)


async def list_for(session: AsyncSession, organization_id: uuid.UUID) -> Sequence[ApiKey]:
    stmt = (
        select(ApiKey)
        .where(ApiKey.organization_id == organization_id, ApiKey.user_id.is_(None))
        .order_by(ApiKey.id)
    )
    return (await session.scalars(stmt)).all()


async def revoke(session: AsyncSession, organization_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """Revokes an active key of the organization; False if there is none by that id. Never
    the organization's last active admin key (409 `last_admin_key`): nobody could manage
    keys through the API after it. The organization's active admin keys are locked first, so
    two admins revoking each other's keys at once cannot both succeed (the second waits,
    then sees the first's revocation)."""
    admins = set(
        (
            await session.scalars(
                select(ApiKey.id)
                .where(
                    ApiKey.organization_id == organization_id,
                    ApiKey.role == Role.ADMIN,
                    ApiKey.revoked_at.is_(None),
                    ApiKey.user_id.is_(None),
                )
                .order_by(ApiKey.id)
                .with_for_update()
            )
        ).all()
    )
    if admins == {key_id}:
        raise Conflict(
            "last_admin_key",
            "This is the organization's last active admin key; create another admin key "
            "before revoking it.",
        )
    result = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            ApiKey.organization_id == organization_id,
            ApiKey.revoked_at.is_(None),
            ApiKey.user_id.is_(None),  # a user's key row ends with the user (DELETE /v1/users)
        )
        .values(revoked_at=func.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
