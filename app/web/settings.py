"""Settings (/app/settings), for organization admins: the team (users, their roles and
campaign roles, invitations, removal, two-factor resets), the organization's two-factor
rule, API keys, the Discord integration, and the stats providers as `/health/ready` reports
them. An admin gives people roles on campaigns and restricts a new API key to chosen
campaigns. Each change is the API's operation (app.web.actions.on_org: the API's refusal, the
same service, the same audit record), its input checked by the API's own schema. A secret
(an invitation link, an API key) is shown in the answer of the action that made it, once.

Every write answers the whole page again (200, with what was done or what to fix), which the
form's htmx swaps in: nothing secret ever sits in a URL or the browser's history."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AppSettings, Session
from app.discord import integrations as discord_integrations
from app.domain.errors import DomainError, NotFound, found
from app.domain.permissions import CampaignRole
from app.domain.two_factor import Requirement
from app.errors import ApiError
from app.models import ApiKey, DiscordIntegration, Organization, User
from app.repositories import api_keys
from app.repositories import campaigns as campaigns_repo
from app.repositories import discord as discord_repo
from app.repositories import permissions as permissions_repo
from app.repositories import users as users_repo
from app.schemas.discord import DiscordConnect
from app.schemas.keys import KeyCreate
from app.schemas.users import CampaignRoleSet, OrganizationUpdate, UserCreate, UserUpdate
from app.services import api_keys as key_service
from app.services import campaign_roles, mail, readiness, users
from app.services import two_factor as two_factor_service
from app.web import actions, choices
from app.web.layout import Page, Viewer, page
from app.webhooks import repository as webhooks_repo

router = APIRouter()

_PAGE = 100  # the API's largest page: users and keys shown at once
_CAMPAIGN_CHOICES = 200  # the campaigns offered for a role or a key (the API's largest page)

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Unfit(Exception):
    """What to put right in the form; nothing was done."""


def checked(model: type[M], **fields: object) -> M:
    """The API's request schema applied to a form's fields: its bounds, the first complaint
    in words (naming the field)."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = str(error["loc"][0]).replace("_", " ") if error["loc"] else "the form"
        raise Unfit(f"{where[:1].upper()}{where[1:]}: {error['msg']}.") from None


def parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(what) from None


async def _admin(me: Page) -> Viewer:
    """A settings write: refused as the API refuses an admin operation to anyone else."""
    if not actions.administers(me.principal):
        raise actions.refusal()
    return me


Admin = Annotated[Viewer, Depends(_admin)]


@dataclass(frozen=True)
class Shown:
    """A secret shown in the answer of the action that made it, and never again."""

    what: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    """What an action did (or why it did not), and the section it belongs to."""

    section: str
    message: str = ""
    error: str = ""
    shown: Shown | None = None


async def act(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    section: str,
    operation: str,
    do: Callable[[], Awaitable[T]],
    subject: Callable[[T], object],
    done: Callable[[T], Outcome],
    details: dict[str, str] | None = None,
) -> Outcome:
    """The API's operation through app.web.actions; a domain refusal becomes the section's
    error (the savepoint undid whatever it began)."""
    try:
        result = await actions.on_org(
            request, session, me.principal, operation, do, subject, details
        )
    except (DomainError, ApiError) as exc:
        if isinstance(exc, ApiError) and exc.status == 403:
            raise
        return Outcome(section, error=exc.detail)
    return done(result)


def _made_id(made: tuple[ApiKey | User, object]) -> object:
    """The audit record's subject of a create: the row it made."""
    return made[0].id


async def _context(request: Request, session: AsyncSession, me: Viewer) -> dict[str, Any]:
    org = me.principal.organization_id
    team, more_users = await users_repo.list_page(session, org, None, _PAGE)
    keys, more_keys = await api_keys.list_page(session, org, None, _PAGE)
    # The first campaigns by name, one more to know whether there are more.
    offered = await choices.campaigns(request, session, org, _CAMPAIGN_CHOICES + 1)
    campaigns = offered[:_CAMPAIGN_CHOICES]
    # The names of the listed keys' campaigns, whether or not among those offered.
    restricted = {c for k in keys if k.campaign_ids is not None for c in k.campaign_ids}
    names = await campaigns_repo.by_ids(session, org, restricted)
    settings = request.app.state.settings
    return {
        "team": team,
        "more_users": more_users is not None,
        "grants": await permissions_repo.grants_of_users(session, org, [u.id for u in team]),
        "keys": keys,
        "more_keys": more_keys is not None,
        "campaigns": campaigns,
        "campaign_names": {c.id: c.name for c in names.values()},
        "more_campaigns": len(offered) > _CAMPAIGN_CHOICES,
        "campaign_roles": list(CampaignRole),
        "discord": await discord_repo.integration(session, org),
        "endpoints": await webhooks_repo.list_endpoints(session, org, None, _PAGE),
        "mode": readiness.providers(settings),
        "capacity": await readiness.capacity(request.app.state.redis),
        "mail": mail.enabled(settings),
    }


async def _page(
    request: Request, session: AsyncSession, me: Viewer, outcome: Outcome | None = None
) -> Response:
    context = await _context(request, session, me)
    context["outcome"] = outcome
    return await page(request, session, me, "settings.html", context, current="settings")


async def not_an_admin(request: Request, session: AsyncSession, me: Viewer) -> Response | None:
    """The answer a settings page gives anyone but an organization admin (403), else None."""
    if actions.administers(me.principal):
        return None
    return await page(
        request, session, me, "settings_refused.html", current="settings", status_code=403
    )


@router.get("/app/settings")
async def settings_page(request: Request, session: Session, me: Page) -> Response:
    if (refused := await not_an_admin(request, session, me)) is not None:
        return refused
    return await _page(request, session, me)


# The team


@router.post("/app/settings/users")
async def invite(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    settings: AppSettings,
    me: Admin,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """users_create: the invitation link is shown in this answer only, and emailed when
    email is configured (after the commit, as the API sends it)."""
    try:
        body = checked(UserCreate, email=email.strip(), name=name.strip(), role=role)
    except Unfit as exc:
        return await _page(request, session, me, Outcome("team", error=str(exc)))
    org = me.principal.organization_id

    letters: list[tuple[str, str, str]] = []

    async def do() -> tuple[User, users.Link]:
        user, link = await users.invite(session, settings, org, body.email, body.name, body.role)
        letter = await users.invitation_mail(session, settings, user, link)
        letters.extend([letter] if letter is not None else [])
        return user, link

    def done(made: tuple[User, users.Link]) -> Outcome:
        user, link = made
        note = f"It sets their password once, until {link.expires_at:%Y-%m-%d %H:%M} UTC."
        if mail.enabled(settings):
            note += " It was also emailed to them."
        shown = Shown(f"Invitation link for {user.email}", link.url, note)
        return Outcome("team", f"{user.email} is invited as {user.role.value}.", shown=shown)

    outcome = await act(request, session, me, "team", "users_create", do, _made_id, done)
    for letter in letters if not outcome.error else []:  # sent after the commit
        background.add_task(mail.send, settings, *letter)
    return await _page(request, session, me, outcome)


async def _user(session: AsyncSession, me: Viewer, user_id: str) -> User:
    return found(
        await users_repo.get(session, me.principal.organization_id, parse_id(user_id, "user")),
        "user",
    )


async def _on_user(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    user_id: str,
    operation: str,
    change: Callable[[User], Awaitable[object]],
    message: Callable[[User], str],
) -> Response:
    """An operation on one user of the organization (another's, or none, is not found)."""

    async def do() -> User:
        user = await _user(session, me, user_id)
        await change(user)
        return user

    def done(user: User) -> Outcome:
        nonlocal me
        if user.id == me.user.id:  # the layout shows the acting user as now stored
            me = replace(me, user=me.user._replace(role=user.role))
        return Outcome("team", message(user))

    outcome = await act(
        request,
        session,
        me,
        "team",
        operation,
        do,
        lambda user: user.id,
        done,
        {"user_id": user_id},
    )
    return await _page(request, session, me, outcome)


@router.post("/app/settings/users/{user_id}/role")
async def change_role(
    request: Request,
    user_id: str,
    session: Session,
    me: Admin,
    role: Annotated[str, Form()] = "",
) -> Response:
    """users_update: the organization role."""
    try:
        body = checked(UserUpdate, role=role)
    except Unfit as exc:
        return await _page(request, session, me, Outcome("team", error=str(exc)))

    async def change(user: User) -> None:
        await users_repo.set_role(session, user, body.role)

    return await _on_user(
        request,
        session,
        me,
        user_id,
        "users_update",
        change,
        lambda user: f"{user.email} is now {body.role.value}.",
    )


@router.post("/app/settings/users/{user_id}/remove")
async def remove(request: Request, user_id: str, session: Session, me: Admin) -> Response:
    """users_delete: their sessions end at once and they cannot sign in."""

    async def change(user: User) -> None:
        await users_repo.remove(session, user, datetime.now(UTC))

    return await _on_user(
        request,
        session,
        me,
        user_id,
        "users_delete",
        change,
        lambda user: f"{user.email} is removed: signed out everywhere, and cannot sign in.",
    )


@router.post("/app/settings/users/{user_id}/two-factor-reset")
async def reset_two_factor(request: Request, user_id: str, session: Session, me: Admin) -> Response:
    """users_two_factor_reset: off until they set it up again; their sessions end."""

    async def change(user: User) -> None:
        await two_factor_service.reset(session, user)

    return await _on_user(
        request,
        session,
        me,
        user_id,
        "users_two_factor_reset",
        change,
        lambda user: f"Two-factor sign-in of {user.email} is reset; they set it up again.",
    )


# Campaign roles


@router.post("/app/settings/users/{user_id}/campaign-roles")
async def grant_campaign_role(
    request: Request,
    user_id: str,
    session: Session,
    me: Admin,
    campaign_id: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    """campaign_roles_set: gives the user a role on the campaign, or changes theirs."""
    try:
        body = checked(CampaignRoleSet, role=role)
    except Unfit as exc:
        return await _page(request, session, me, Outcome("team", error=str(exc)))
    return await _campaign_role(
        request, session, me, user_id, campaign_id, "campaign_roles_set", body.role
    )


@router.post("/app/settings/users/{user_id}/campaign-roles/{campaign_id}/remove")
async def revoke_campaign_role(
    request: Request, user_id: str, campaign_id: str, session: Session, me: Admin
) -> Response:
    """campaign_roles_delete: the user no longer reaches the campaign through that role."""
    return await _campaign_role(
        request, session, me, user_id, campaign_id, "campaign_roles_delete", None
    )


async def _campaign_role(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    user_id: str,
    campaign_id: str,
    operation: str,
    role: CampaignRole | None,
) -> Response:
    """A campaign role set (`role`) or taken away (None), recorded as the API records it:
    on the campaign, naming the campaign and the user."""
    org = me.principal.organization_id

    async def do() -> tuple[uuid.UUID, User, str]:
        campaign = parse_id(campaign_id, "campaign")
        user = await _user(session, me, user_id)
        if role is None:
            await campaign_roles.revoke(session, org, campaign, user.id)
        else:
            await campaign_roles.grant(session, org, campaign, user.id, role)
        named = await campaigns_repo.get(session, org, campaign)
        return campaign, user, named.name if named is not None else "the campaign"

    def done(changed: tuple[uuid.UUID, User, str]) -> Outcome:
        _, user, name = changed
        if role is None:
            return Outcome("team", f"{user.email} no longer holds a role on {name}.")
        return Outcome("team", f"{user.email} is now {_role_name(role)} on {name}.")

    outcome = await act(
        request,
        session,
        me,
        "team",
        operation,
        do,
        lambda changed: changed[0],
        done,
        {"campaign_id": campaign_id, "user_id": user_id},
    )
    return await _page(request, session, me, outcome)


def _role_name(role: CampaignRole) -> str:
    return role.value.replace("_", " ")


# The organization


@router.post("/app/settings/organization")
async def organization(
    request: Request,
    session: Session,
    me: Admin,
    require_two_factor: Annotated[str, Form()] = "",
) -> Response:
    """organization_update: who must sign in with a second factor."""
    try:
        body = checked(OrganizationUpdate, require_two_factor=require_two_factor)
    except Unfit as exc:
        return await _page(request, session, me, Outcome("organization", error=str(exc)))
    org = me.principal.organization_id

    async def do() -> Organization:
        return await users.set_require_two_factor(session, org, body.require_two_factor)

    def saved(row: Organization) -> Outcome:
        nonlocal me
        # The page shows the rule just saved: `me` holds the one read when the request signed
        # in (app.repositories.users.live_session), and saving the form again re-sends it.
        rule = row.require_two_factor
        me = replace(me, organization=me.organization._replace(require_two_factor=rule))
        return Outcome("organization", "Saved: " + REQUIREMENTS[rule])

    outcome = await act(
        request, session, me, "organization", "organization_update", do, lambda row: row.id, saved
    )
    return await _page(request, session, me, outcome)


# What each two-factor rule means, in words (the API's `require_two_factor` values).
REQUIREMENTS = {
    Requirement.OFF.value: "a second factor is each person's choice.",
    Requirement.ADMINS.value: "admins must sign in with a second factor.",
    Requirement.EVERYONE.value: "everyone must sign in with a second factor.",
}


# API keys


@router.post("/app/settings/api-keys")
async def create_key(
    request: Request,
    session: Session,
    settings: AppSettings,
    me: Admin,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    campaign_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """api_keys_create: the key is shown in this answer only. Campaigns ticked restrict it to
    those (none: every campaign)."""
    try:
        body = checked(KeyCreate, name=name.strip(), role=role, campaign_ids=campaign_id or None)
    except Unfit as exc:
        return await _page(request, session, me, Outcome("keys", error=str(exc)))
    org = me.principal.organization_id

    async def do() -> tuple[ApiKey, str]:
        return await key_service.create(
            session, settings, org, body.role, body.name, body.campaign_ids
        )

    def done(made: tuple[ApiKey, str]) -> Outcome:
        row, key = made
        label = f"“{row.name}”" if row.name else row.prefix
        reach = ""
        if row.campaign_ids is not None:
            n = len(row.campaign_ids)
            reach = f", {n} campaign{'' if n == 1 else 's'} only"
        shown = Shown(
            f"API key {label} ({row.role}{reach})",
            key,
            "Copy it now: it is stored only as a digest and cannot be shown again.",
        )
        return Outcome("keys", f"Key {label} created.", shown=shown)

    outcome = await act(request, session, me, "keys", "api_keys_create", do, _made_id, done)
    return await _page(request, session, me, outcome)


@router.post("/app/settings/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, session: Session, me: Admin) -> Response:
    """api_keys_revoke: never the organization's last admin key (as the API refuses it)."""
    org = me.principal.organization_id

    async def do() -> uuid.UUID:
        key = parse_id(key_id, "api_key")
        if not await api_keys.revoke(session, org, key):
            raise NotFound("api_key")
        return key

    outcome = await act(
        request,
        session,
        me,
        "keys",
        "api_keys_revoke",
        do,
        lambda key: key,
        lambda _: Outcome("keys", "Key revoked: it no longer works."),
        {"key_id": key_id},
    )
    if not outcome.error:
        request.app.state.principals.clear()  # as the API does: no cached answer for it
    return await _page(request, session, me, outcome)


# Discord


@router.post("/app/settings/discord")
async def connect_discord(
    request: Request,
    session: Session,
    settings: AppSettings,
    me: Admin,
    application_id: Annotated[str, Form()] = "",
    public_key: Annotated[str, Form()] = "",
    bot_token: Annotated[str, Form()] = "",
) -> Response:
    """discord_integration_put: the bot token is stored encrypted and never shown again."""
    try:
        body = checked(
            DiscordConnect,
            application_id=application_id.strip(),
            public_key=public_key.strip(),
            bot_token=bot_token.strip(),
        )
    except Unfit as exc:
        return await _page(request, session, me, Outcome("discord", error=str(exc)))
    given = discord_integrations.Connection(body.application_id, body.public_key, body.bot_token)
    org = me.principal.organization_id

    async def do() -> DiscordIntegration:
        http = request.app.state.http
        return await discord_integrations.connect(session, settings, org, given, http)

    outcome = await act(
        request,
        session,
        me,
        "discord",
        "discord_integration_put",
        do,
        lambda _: None,
        lambda row: Outcome("discord", f"Discord application {row.application_id} connected."),
    )
    return await _page(request, session, me, outcome)


@router.post("/app/settings/discord/disconnect")
async def disconnect_discord(request: Request, session: Session, me: Admin) -> Response:
    """discord_integration_delete: the token is forgotten, every Discord user unlinked."""
    org = me.principal.organization_id

    async def do() -> None:
        await discord_integrations.disconnect(session, org)

    outcome = await act(
        request,
        session,
        me,
        "discord",
        "discord_integration_delete",
        do,
        lambda _: None,
        lambda _: Outcome("discord", "Discord disconnected; every Discord user is unlinked."),
    )
    return await _page(request, session, me, outcome)


@router.post("/app/settings/discord/commands")
async def register_commands(
    request: Request, session: Session, settings: AppSettings, me: Admin
) -> Response:
    """discord_commands_register: the command set put on Discord (again is harmless)."""
    org = me.principal.organization_id

    async def do() -> list[str]:
        http = request.app.state.http
        return await discord_integrations.register_commands(session, http, settings, org)

    outcome = await act(
        request,
        session,
        me,
        "discord",
        "discord_commands_register",
        do,
        lambda _: None,
        lambda names: Outcome("discord", "Commands registered: /" + ", /".join(names) + "."),
    )
    return await _page(request, session, me, outcome)
