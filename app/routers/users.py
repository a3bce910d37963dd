"""People who sign in: users (admin), setting a password from a link, and sessions.

Sign-in (`POST /v1/session`) and setting a password (`POST /v1/password`) take no API key:
like the portal's sign-in they are public endpoints with a small body limit and a budget per
client address (app.http.public), same-origin only for browsers, and sign-in attempts have
their own limits per account and per address. A session cookie then authenticates /v1 like
an API key does (app.deps), with `X-CSRF-Token` on every write."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status

from app.auth import Principal
from app.db import session_scope
from app.deps import (
    Admin,
    AppSettings,
    Session,
    _audit,
    _principal,
    clear_user_cookie,
    set_user_cookie,
)
from app.domain import audit
from app.domain.errors import NotFound, found
from app.errors import PROBLEM_JSON, PROBLEM_RESPONSES, ApiError, Problem
from app.http.public import client_address
from app.http.sameorigin import cross_origin
from app.models import Organization
from app.repositories import audit as audit_repo
from app.repositories import campaigns as campaigns_repo
from app.repositories import permissions as permissions_repo
from app.repositories import users as users_repo
from app.schemas.common import NO_NUL, Cursor, Limit, Moment
from app.schemas.users import (
    AuditEventOut,
    AuditEventPage,
    CampaignRoleOut,
    CampaignRolePage,
    CampaignRoleSet,
    LinkOut,
    OrganizationOut,
    OrganizationUpdate,
    PasswordResetRequest,
    PasswordSet,
    RecoveryCodes,
    SessionOut,
    SignedOut,
    SignIn,
    TwoFactorConfirm,
    TwoFactorEnrolment,
    UserCreate,
    UserCreated,
    UserOut,
    UserPage,
    UserUpdate,
)
from app.services import campaign_roles, mail, users
from app.services import two_factor as two_factor_service

router = APIRouter(tags=["users"], responses=PROBLEM_RESPONSES)


_CROSS_ORIGIN = "Signing in is only possible from this service's own pages or a client."


def _same_origin(request: Request) -> None:
    if cross_origin(request):
        raise ApiError(403, "cross_origin_request", _CROSS_ORIGIN)


SameOrigin = Depends(_same_origin)


async def _signed_in(
    principal: Annotated[Principal, Depends(_principal)],
    _audited: Annotated[None, Depends(_audit, scope="function")],
) -> Principal:
    if principal.user_id is None:
        raise ApiError(
            403, "session_required", "This is about a user's session; an API key has none."
        )
    return principal


SignedInUser = Annotated[Principal, Depends(_signed_in)]

_PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "A browser request from another site (`cross_origin_request`)."},
    413: {
        "model": Problem,
        "content": {PROBLEM_JSON: {}},
        "description": "The body is larger than `PORTAL_MAX_BODY_BYTES`.",
    },
    429: {
        "model": Problem,
        "content": {PROBLEM_JSON: {}},
        "description": "Too many requests from the client address, or sign-in attempts for "
        "the account; retry after `Retry-After` seconds.",
    },
}


# Users (admin)


@router.post("/v1/users", status_code=status.HTTP_201_CREATED)
async def users_create(
    body: UserCreate,
    session: Session,
    who: Admin,
    settings: AppSettings,
    background: BackgroundTasks,
) -> UserCreated:
    """Invites a person: the answer holds their invitation link (single-use, expires after
    `INVITATION_TTL_HOURS`), shown this once; with `SMTP_URL` set it is also emailed to
    them. 409 `email_taken` if the email has a user."""
    user, link = await users.invite(
        session, settings, who.organization_id, body.email, body.name, body.role
    )
    letter = await users.invitation_mail(session, settings, user, link)
    if letter is not None:
        background.add_task(mail.send, settings, *letter)
    return UserCreated(
        **UserOut.model_validate(user).model_dump(),
        invitation=LinkOut(url=link.url, expires_at=link.expires_at),
    )


@router.get("/v1/users")
async def users_list(
    session: Session, who: Admin, cursor: Cursor = None, limit: Limit = 50
) -> UserPage:
    """Oldest first, removed users included."""
    rows, next_cursor = await users_repo.list_page(session, who.organization_id, cursor, limit)
    return UserPage(data=[UserOut.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.get("/v1/users/{user_id}")
async def users_get(user_id: uuid.UUID, session: Session, who: Admin) -> UserOut:
    user = found(await users_repo.get(session, who.organization_id, user_id), "user")
    return UserOut.model_validate(user)


@router.patch("/v1/users/{user_id}")
async def users_update(
    user_id: uuid.UUID, body: UserUpdate, session: Session, who: Admin
) -> UserOut:
    """Name and organization role."""
    user = found(await users_repo.get(session, who.organization_id, user_id), "user")
    if body.name is not None:
        user.name = body.name
    if body.role is not None:
        await users_repo.set_role(session, user, body.role)
    await session.flush()
    await session.refresh(user)
    return UserOut.model_validate(user)


@router.delete("/v1/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def users_delete(user_id: uuid.UUID, session: Session, who: Admin) -> Response:
    """Removes the user: every session of theirs ends at once, their links stop working and
    they cannot sign in. The record stays (status `removed`), for the history it is in."""
    user = await users_repo.get(session, who.organization_id, user_id)
    if user is None:
        raise NotFound("user")
    await users_repo.remove(session, user, _now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/users/{user_id}/password-link")
async def users_password_link(
    user_id: uuid.UUID,
    session: Session,
    who: Admin,
    settings: AppSettings,
    background: BackgroundTasks,
) -> LinkOut:
    """A new single-use link that sets the user's password (a new invitation for an
    invited user); older unused links stop working. Shown this once."""
    user = found(await users_repo.get(session, who.organization_id, user_id), "user")
    link = await users.reset_link(session, settings, user)
    if mail.enabled(settings):
        subject, text = mail.password_reset(link.url, f"{link.expires_at:%Y-%m-%d %H:%M}")
        background.add_task(mail.send, settings, user.email, subject, text)
    return LinkOut(url=link.url, expires_at=link.expires_at)


@router.post(
    "/v1/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[SameOrigin],
    responses={
        **_PUBLIC_RESPONSES,
        409: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "No email is configured (`email_not_configured`): ask an admin.",
        },
    },
)
async def password_reset_request(
    body: PasswordResetRequest,
    request: Request,
    session: Session,
    settings: AppSettings,
    background: BackgroundTasks,
) -> Response:
    """Asks for a password link by email. The answer is the same whether or not the email
    belongs to a user (202); an active user is sent a single-use link (valid
    `PASSWORD_RESET_TTL_HOURS`). Limited like sign-in, per account and per address."""
    if not mail.enabled(settings):
        raise ApiError(
            409, "email_not_configured", "This service sends no email; ask an admin for a link."
        )
    try:
        sent = await users.request_reset(
            session, settings, request.app.state.redis, client_address(request.scope), body.email
        )
    except users.TooManyAttempts as exc:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests; retry in {exc.retry_after} s.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    if sent is not None:
        user, link = sent
        subject, text = mail.password_reset(link.url, f"{link.expires_at:%Y-%m-%d %H:%M}")
        background.add_task(mail.send, settings, user.email, subject, text)
        await audit_repo.record(
            session,
            user.organization_id,
            audit.PASSWORD_RESET_REQUESTED,
            "user",
            user.id,
            client_address=client_address(request.scope),
        )
    return Response(status_code=status.HTTP_202_ACCEPTED)


# Passwords and sessions


@router.post(
    "/v1/password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[SameOrigin],
    responses=_PUBLIC_RESPONSES,
)
async def password_set(body: PasswordSet, request: Request, session: Session) -> Response:
    """Sets a password with an invitation or reset link's token (422 `link_invalid` for an
    unknown, used or expired one; 422 `password_too_weak`). The user's sessions end."""
    user = await users.set_password(session, body.token, body.password)
    await audit_repo.record(
        session,
        user.organization_id,
        audit.PASSWORD_SET,
        "user",
        user.id,
        actor_user_id=user.id,
        client_address=client_address(request.scope),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _session_out(started: users.Started, organization_id: uuid.UUID) -> SessionOut:
    return SessionOut(
        user=UserOut.model_validate(started.user),
        organization_id=organization_id,
        csrf_token=started.csrf_token,
        expires_at=started.expires_at,
        two_factor_pending=started.two_factor_pending,
    )


@router.post(
    "/v1/session",
    dependencies=[SameOrigin],
    responses={
        **_PUBLIC_RESPONSES,
        401: {"description": "The email or the password is wrong (`sign_in_failed`)."},
    },
)
async def session_create(
    body: SignIn, request: Request, response: Response, session: Session, settings: AppSettings
) -> SessionOut:
    """Signs a user in: the answer sets an HttpOnly session cookie and holds the session's
    CSRF token. A wrong email and a wrong password answer alike (401 `sign_in_failed`);
    attempts are limited per account and per client address (429 with `Retry-After`)."""
    try:
        started = await users.sign_in(
            session,
            settings,
            request.app.state.redis,
            client_address(request.scope),
            body.email,
            body.password,
            body.code,
        )
    except users.TwoFactorRequired:
        raise ApiError(
            401,
            "two_factor_required",
            "Two-factor sign-in is on for this user: send `code` as well.",
        ) from None
    except users.TooManyAttempts as exc:
        # In a transaction of its own: this request's rolls back with the 429.
        async with session_scope(request.app.state.sessionmaker) as own:
            await users.audit_throttled(own, body.email, client_address(request.scope))
        raise ApiError(
            429,
            "rate_limited",
            f"Too many sign-in attempts; retry in {exc.retry_after} s.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    if started is None:
        raise ApiError(401, "sign_in_failed", "The email or the password is wrong.")
    set_user_cookie(response, request, settings, started.token)
    return _session_out(started, started.user.organization_id)


@router.get("/v1/session")
async def session_get(
    request: Request, session: Session, settings: AppSettings, who: SignedInUser
) -> SessionOut:
    """The signed-in user and the session's CSRF token (a page loaded later reads it here)."""
    current = await users.current(session, settings, request.cookies.get(users.COOKIE))
    if current is None:  # ended between the check and now
        raise ApiError(401, "session_expired", "The session has ended; sign in again.")
    row, user = current.session, current.user
    return SessionOut(
        user=UserOut.model_validate(user),
        organization_id=user.organization_id,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        two_factor_pending=row.two_factor_pending,
    )


@router.delete("/v1/session", status_code=status.HTTP_204_NO_CONTENT)
async def session_delete(
    request: Request, session: Session, settings: AppSettings, who: SignedInUser
) -> Response:
    """Signs out: the session ends on the server (a copy of the cookie no longer works) and
    the cookie is cleared."""
    await users.sign_out(session, request.cookies.get(users.COOKIE))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_user_cookie(response, request, settings)
    return response


@router.delete("/v1/sessions")
async def sessions_delete(
    request: Request,
    response: Response,
    session: Session,
    settings: AppSettings,
    who: SignedInUser,
) -> SignedOut:
    """Signs out everywhere: every session of the user ends, this one included."""
    assert who.user_id is not None
    ended = await users.sign_out_everywhere(session, who.user_id)
    clear_user_cookie(response, request, settings)
    return SignedOut(sessions_ended=ended)


def _now() -> datetime:
    return datetime.now(UTC)


# Campaign roles (admin)


@router.put("/v1/campaigns/{campaign_id}/roles/{user_id}")
async def campaign_roles_set(
    campaign_id: uuid.UUID,
    user_id: uuid.UUID,
    body: CampaignRoleSet,
    session: Session,
    who: Admin,
) -> CampaignRoleOut:
    """Gives a user a role on the campaign, or changes it. An org `member` reaches only the
    campaigns they hold a role in (the README's permission table says what each allows)."""
    row = await campaign_roles.grant(session, who.organization_id, campaign_id, user_id, body.role)
    return CampaignRoleOut.model_validate(row)


@router.get("/v1/campaigns/{campaign_id}/roles")
async def campaign_roles_list(
    campaign_id: uuid.UUID, session: Session, who: Admin, cursor: Cursor = None, limit: Limit = 50
) -> CampaignRolePage:
    found(await campaigns_repo.get(session, who.organization_id, campaign_id), "campaign")
    rows, next_cursor = await permissions_repo.list_page(session, campaign_id, cursor, limit)
    return CampaignRolePage(
        data=[CampaignRoleOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.delete(
    "/v1/campaigns/{campaign_id}/roles/{user_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def campaign_roles_delete(
    campaign_id: uuid.UUID, user_id: uuid.UUID, session: Session, who: Admin
) -> Response:
    await campaign_roles.revoke(session, who.organization_id, campaign_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# The audit log (admin)


@router.get("/v1/audit-events")
async def audit_events_list(
    session: Session,
    who: Admin,
    action: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    resource_type: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    resource_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    actor_key_id: uuid.UUID | None = None,
    actor_user_id: uuid.UUID | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> AuditEventPage:
    """Who did what, newest first: sign-ins (and throttled bursts of failed ones), users,
    roles, keys, sessions, decisions on posts, payouts, webhook endpoints and integrations.
    Filters by action, resource, actor and time (`since` inclusive, `until` exclusive)."""
    rows, next_cursor = await audit_repo.list_page(
        session,
        who.organization_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        actor_key_id=actor_key_id,
        actor_user_id=actor_user_id,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return AuditEventPage(
        data=[AuditEventOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


# Two-factor sign-in


@router.post("/v1/session/two-factor")
async def two_factor_start(
    session: Session, settings: AppSettings, who: SignedInUser
) -> TwoFactorEnrolment:
    """Starts setting up two-factor sign-in for the signed-in user: a new TOTP secret, as a
    QR code for an authenticator app. It is on once a code confirms it (409
    `two_factor_enabled` if it already is)."""
    assert who.user_id is not None
    user = found(await users_repo.get(session, who.organization_id, who.user_id), "user")
    enrolment = await two_factor_service.start(session, settings, user)
    return TwoFactorEnrolment(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
    )


@router.post("/v1/session/two-factor/confirm")
async def two_factor_confirm(
    body: TwoFactorConfirm, session: Session, settings: AppSettings, who: SignedInUser
) -> RecoveryCodes:
    """Turns two-factor sign-in on with a current code (422 `two_factor_code_invalid`);
    answers ten single-use recovery codes, shown this once."""
    assert who.user_id is not None
    user = found(await users_repo.get(session, who.organization_id, who.user_id), "user")
    codes = await two_factor_service.confirm(session, settings, user, body.code)
    return RecoveryCodes(recovery_codes=codes)


@router.delete("/v1/users/{user_id}/two-factor", status_code=status.HTTP_204_NO_CONTENT)
async def users_two_factor_reset(user_id: uuid.UUID, session: Session, who: Admin) -> Response:
    """Resets a user's second factor (a lost phone): off until they set it up again."""
    user = found(await users_repo.get(session, who.organization_id, user_id), "user")
    await two_factor_service.reset(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/organization")
async def organization_get(session: Session, who: Admin) -> OrganizationOut:
    org = await session.get(Organization, who.organization_id)
    assert org is not None
    return OrganizationOut.model_validate(org)


@router.patch("/v1/organization")
async def organization_update(
    body: OrganizationUpdate, session: Session, who: Admin
) -> OrganizationOut:
    """`require_two_factor`: `admins` or `everyone` must sign in with a second factor; one
    who has not set it up gets a session that can only set it up."""
    if body.require_two_factor is None:
        org = await session.get(Organization, who.organization_id)
    else:
        org = await users.set_require_two_factor(
            session, who.organization_id, body.require_two_factor
        )
    return OrganizationOut.model_validate(org)
