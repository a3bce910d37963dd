"""Users, their single-use links and their sessions: the queries. Tokens arrive here as
SHA-256 digests; the secrets themselves never reach the database."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import DateTime, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import display_prefix, generate_key, hash_key
from app.domain.enums import OrgRole, Role, UserStatus, UserTokenPurpose
from app.models import ApiKey, Organization, User, UserSession, UserToken
from app.repositories import written
from app.repositories.pagination import Sort, fetch_page


def key_role(role: OrgRole) -> Role:
    """The role of the user's own key row: an org admin acts as an admin key; a member is
    read-only through it (campaign roles widen that per campaign)."""
    return Role.ADMIN if role is OrgRole.ADMIN else Role.VIEWER


async def create(
    session: AsyncSession, organization_id: uuid.UUID, email: str, name: str, role: OrgRole
) -> User | None:
    """A new invited user and their own key row; None when the email is taken."""
    taken = await session.scalar(select(User.id).where(User.email == email))
    if taken is not None:
        return None
    user = User(organization_id=organization_id, email=email, name=name, role=role)
    session.add(user)
    await session.flush()
    # The key row the user acts through. Its secret is thrown away at once: nobody can
    # present it, so it authenticates nothing by itself.
    secret = generate_key()
    session.add(
        ApiKey(
            organization_id=organization_id,
            role=key_role(role),
            name=f"user {email}",
            prefix=display_prefix(secret),
            key_hash=hash_key(secret),
            user_id=user.id,
        )
    )
    await session.flush()
    await session.refresh(user)
    return user


async def get(session: AsyncSession, organization_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
    found: User | None = await session.scalar(
        select(User).where(User.id == user_id, User.organization_id == organization_id)
    )
    return found


async def by_email(session: AsyncSession, email: str) -> User | None:
    found: User | None = await session.scalar(select(User).where(User.email == email))
    return found


async def list_page(
    session: AsyncSession, organization_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[User], str | None]:
    """Oldest first, removed users included."""
    stmt = select(User).where(User.organization_id == organization_id)
    return await fetch_page(session, stmt, User.id, Sort(None, False), cursor, limit)


async def by_key(session: AsyncSession, key_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
    """The users the key rows act for (a signed-in user acts through their own key row),
    by key id; a key no user owns is not in the answer."""
    if not key_ids:
        return {}
    stmt = (
        select(ApiKey.id, User)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.id.in_(sorted(set(key_ids))))
    )
    return {key_id: user for key_id, user in (await session.execute(stmt)).all()}


async def set_role(session: AsyncSession, user: User, role: OrgRole) -> None:
    user.role = role
    await session.execute(
        update(ApiKey).where(ApiKey.user_id == user.id).values(role=key_role(role))
    )


async def remove(session: AsyncSession, user: User, now: datetime) -> None:
    """Removed: every session and unused link ends, the key row is revoked."""
    user.status = UserStatus.REMOVED
    user.password_hash = None
    await end_all_sessions(session, user.id)
    await session.execute(delete(UserToken).where(UserToken.user_id == user.id))
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.flush()


# Single-use links


async def issue_token(
    session: AsyncSession,
    user: User,
    purpose: UserTokenPurpose,
    token_hash: str,
    expires_at: datetime,
) -> None:
    """A new link for the user; any older unused link of theirs stops working."""
    await session.execute(
        delete(UserToken).where(UserToken.user_id == user.id, UserToken.used_at.is_(None))
    )
    session.add(
        UserToken(
            organization_id=user.organization_id,
            user_id=user.id,
            purpose=purpose,
            token_hash=token_hash,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def use_token(session: AsyncSession, token_hash: str, now: datetime) -> User | None:
    """Spends a live link (unused, unexpired, of a user not removed) and returns its user;
    None otherwise. One guarded UPDATE, so two uses at once cannot both succeed."""
    user_id = await session.scalar(
        update(UserToken)
        .where(
            UserToken.token_hash == token_hash,
            UserToken.used_at.is_(None),
            UserToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(UserToken.user_id)
    )
    if user_id is None:
        return None
    user: User | None = await session.scalar(
        select(User).where(User.id == user_id, User.status != UserStatus.REMOVED).with_for_update()
    )
    return user


# Sessions


async def start_session(
    session: AsyncSession,
    user: User,
    token_hash: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
    client: str,
    *,
    two_factor_pending: bool = False,
) -> UserSession:
    """A new session; the user's ended ones (expired) go at the same time."""
    await session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now)
    )
    row = UserSession(
        organization_id=user.organization_id,
        user_id=user.id,
        token_hash=token_hash,
        csrf_token=csrf_token,
        last_seen_at=now,
        expires_at=expires_at,
        client_address=client[:64],
        two_factor_pending=two_factor_pending,
    )
    session.add(row)
    await session.flush()
    return row


class SignedSession(NamedTuple):  # a live session's columns a request reads
    id: uuid.UUID
    csrf_token: str
    last_seen_at: datetime
    expires_at: datetime
    two_factor_pending: bool


class SignedUser(NamedTuple):  # its user's (UserOut's and the pages')
    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    name: str
    role: OrgRole
    status: UserStatus
    created_at: datetime
    last_sign_in_at: datetime | None
    two_factor_enabled_at: datetime | None


class SignedOrganization(NamedTuple):  # the user's organization's
    id: uuid.UUID
    name: str
    require_two_factor: str


class Live(NamedTuple):
    session: SignedSession
    user: SignedUser
    key_id: uuid.UUID
    organization: SignedOrganization  # what a signed-in page shows beside the user


def _columns(model: type[Any], row: type[tuple[Any, ...]]) -> list[Any]:
    return [getattr(model, name) for name in row._fields]  # type: ignore[attr-defined]


# Every signed-in request runs this, so it is written out once and read on the driver: as
# four ORM entities it cost ~1 ms of CPU a request, eight times its round trip (issue 26).
_LIVE_SESSION = written.write_out(
    select(
        *_columns(UserSession, SignedSession),
        *_columns(User, SignedUser),
        ApiKey.id,
        *_columns(Organization, SignedOrganization),
    )
    .join(User, User.id == UserSession.user_id)
    .join(ApiKey, ApiKey.user_id == User.id)
    .join(Organization, Organization.id == User.organization_id)
    .where(
        UserSession.token_hash == bindparam("token_hash"),
        UserSession.expires_at > bindparam("now", type_=DateTime(timezone=True)),
        UserSession.last_seen_at > bindparam("idle_since", type_=DateTime(timezone=True)),
        User.status == UserStatus.ACTIVE,
        ApiKey.revoked_at.is_(None),
    )
)
_USER_AT = len(SignedSession._fields)
_KEY_AT = _USER_AT + len(SignedUser._fields)


async def live_session(
    session: AsyncSession, token_hash: str, now: datetime, idle_since: datetime
) -> Live | None:
    """The session, its user, the user's key id and organization, if the session is live:
    not expired, used since `idle_since`, its user active and the key row unrevoked."""
    values = {"token_hash": token_hash, "now": now, "idle_since": idle_since}
    rows = await written.fetch(session, _LIVE_SESSION, values)
    if not rows:
        return None
    row = tuple(rows[0])
    user = SignedUser(*row[_USER_AT:_KEY_AT])
    return Live(
        SignedSession(*row[:_USER_AT]),
        user._replace(role=OrgRole(user.role), status=UserStatus(user.status)),
        row[_KEY_AT],
        SignedOrganization(*row[_KEY_AT + 1 :]),
    )


async def touch_session(session: AsyncSession, session_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(UserSession).where(UserSession.id == session_id).values(last_seen_at=now)
    )


async def end_session(session: AsyncSession, token_hash: str) -> None:
    await session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))


async def end_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.execute(delete(UserSession).where(UserSession.user_id == user_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def spend_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(UserToken).where(UserToken.user_id == user_id))
