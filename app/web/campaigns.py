"""Campaigns (/app/campaigns): the list as `GET /v1/campaigns` answers it, a new campaign,
and one campaign's setup: its terms (dates, currency, status, rule overrides,
`hold_on_flags`), its CPM tiers and its members with their default tiers. Every change is the
API's operation (app.web.actions.on_campaign / on_org: the permission table under the API's
operation id, the same service, the API's audit record), its form checked by the API's own
request schema; a person is offered only what their role on the campaign allows."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AppSettings, Session
from app.domain.enums import CampaignStatus, Platform
from app.domain.errors import DomainError, InvalidCursor
from app.domain.integrity import FlagCode
from app.domain.permissions import Action
from app.errors import ApiError
from app.models import Campaign
from app.repositories import campaigns, creators, tiers
from app.schemas.campaigns import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    TierCreate,
    TierOut,
    TierUpdate,
)
from app.schemas.creators import MemberCreate, MemberUpdate
from app.services import campaigns as campaign_service
from app.services import members as member_service
from app.settings import Settings
from app.web import actions
from app.web.actions import Refused
from app.web.forms import Form as Fields
from app.web.forms import Invalid, blank_none, checked, refusal, refusing, whole_number
from app.web.layout import Page, Viewer, page
from app.web.post_page import not_found
from app.web.session import go_to

router = APIRouter()

_PAGE = 50  # campaigns and members a page, as the API's default
_ALL = 200  # the API's largest page: a campaign's tiers, the creators offered to add
_CHANGES = (
    "campaigns_update",
    "cpm_tiers_create",
    "cpm_tiers_update",
    "cpm_tiers_delete",
    "members_create",
    "members_update",
    "members_delete",
)


def _page_of(cursor: str) -> str | None:
    return cursor or None


@router.get("/app/campaigns")
async def campaigns_page(
    request: Request, session: Session, me: Page, status: str = "", cursor: str = ""
) -> Response:
    """`GET /v1/campaigns` (the same query and reach), filtered by the status in force."""
    try:
        wanted = CampaignStatus(status) if status else None
    except ValueError:
        wanted = None
    org = me.principal.organization_id
    only = me.principal.actor().reachable()
    try:
        rows, next_cursor = await campaigns.list_page(
            session, org, wanted, _page_of(cursor), _PAGE, only=only
        )
    except InvalidCursor:  # a stale link: start over
        rows, next_cursor = await campaigns.list_page(session, org, wanted, None, _PAGE, only=only)
    context = {
        "campaigns": [campaign_service.present(c) for c in rows],
        "next_cursor": next_cursor,
        "status": wanted.value if wanted else "",
        "statuses": list(CampaignStatus),
        "paged": bool(cursor),
    }
    return await page(request, session, me, "campaigns.html", context, current="campaigns")


def _terms(form: dict[str, Any]) -> dict[str, Any]:
    """The terms form as the API's body: blanks are "none" (the defaults)."""
    return {
        "name": form["name"],
        "currency": form["currency"].strip(),
        "status": form["status"],
        "starts_on": blank_none(form["starts_on"]),
        "ends_on": blank_none(form["ends_on"]),
        "min_views": whole_number(form["min_views"]),
        "finalize_after_days": whole_number(form["finalize_after_days"]),
        "hold_on_flags": form["hold_on_flags"],
    }


class TermsForm(BaseModel):
    """The terms form as typed: checked against the API's own schema after (`_terms`)."""

    name: str = ""
    currency: str = ""
    status: str = ""
    starts_on: str = ""
    ends_on: str = ""
    min_views: str = ""
    finalize_after_days: str = ""
    hold_on_flags: list[str] = []


Terms = Annotated[TermsForm, Form()]


def _defaults(settings: Settings) -> dict[str, int]:
    return {
        "min_views": settings.min_views,
        "finalize_after_days": settings.finalize_after_days,
        "window": settings.refresh_window_days,
    }


async def _new_form(
    request: Request, session: AsyncSession, me: Viewer, settings: Settings, form: Fields
) -> Response:
    context = {
        "form": form,
        "statuses": list(CampaignStatus),
        "flags": list(FlagCode),
        "defaults": _defaults(settings),
    }
    return await page(request, session, me, "campaigns_new.html", context, current="campaigns")


@router.get("/app/campaigns/new")
async def campaign_new(
    request: Request, session: Session, me: Page, settings: AppSettings
) -> Response:
    blank = Fields({"currency": "USD", "status": "active", "hold_on_flags": []})
    return await _new_form(request, session, me, settings, blank)


@router.post("/app/campaigns")
async def campaign_create(
    request: Request,
    session: Session,
    me: Page,
    settings: AppSettings,
    form: Terms,
) -> Response:
    """`campaigns_create`; then the new campaign's page, to add its tiers and members."""
    sent: dict[str, Any] = form.model_dump()
    try:
        body = checked(CampaignCreate, _terms(sent), sent)

        async def create() -> Campaign:
            return await campaign_service.create(
                session, me.principal.organization_id, body.model_dump(), settings
            )

        made = await refusing(
            sent, actions.on_org(request, session, me.principal, "campaigns_create", create)
        )
    except Invalid as exc:
        return await _new_form(request, session, me, settings, exc.form)
    return go_to(request, f"/app/campaigns/{made.id}")


def _stored_terms(campaign: CampaignOut, stored: CampaignStatus) -> Fields:
    """The terms form as stored: the status as set (the one in force may read ended)."""

    def text(value: object) -> str:
        return "" if value is None else str(value)

    return Fields(
        {
            "name": campaign.name,
            "currency": campaign.currency,
            "status": stored.value,
            "starts_on": text(campaign.starts_on),
            "ends_on": text(campaign.ends_on),
            "min_views": text(campaign.min_views),
            "finalize_after_days": text(campaign.finalize_after_days),
            "hold_on_flags": [f.value for f in campaign.hold_on_flags],
        }
    )


@dataclass(frozen=True)
class _CampaignPage:
    """A campaign's setup page as a request asks for it: shown, or shown again after a form
    posted to it, saying what was done or why not in the form's section."""

    request: Request
    session: AsyncSession
    me: Viewer
    settings: Settings
    campaign_id: uuid.UUID

    @property
    def org(self) -> uuid.UUID:
        return self.me.principal.organization_id

    async def show(
        self,
        *,
        forms: dict[str, Fields] | None = None,
        notice: tuple[str, str] | None = None,
        problem: tuple[str, str] | None = None,
        members_cursor: str = "",
    ) -> Response:
        """The campaign's setup page; `notice` and `problem`: (section, what was done or why
        not) to say in that section."""
        org = self.org
        campaign = (
            await campaigns.get(self.session, org, self.campaign_id)
            if self.me.can("campaigns_get", self.campaign_id)
            else None
        )
        if campaign is None:
            return await not_found(self.request, self.session, self.me, "campaign")
        shown = campaign_service.present(campaign)
        tier_rows = [
            TierOut.model_validate(t)
            for t in (await tiers.list_page(self.session, campaign.id, None, _ALL))[0]
        ]
        try:
            member_rows, next_members = await creators.list_members(
                self.session, campaign.id, _page_of(members_cursor), _PAGE
            )
        except InvalidCursor:
            member_rows, next_members = await creators.list_members(
                self.session, campaign.id, None, _PAGE
            )
        may = {operation: self.me.can(operation, campaign.id) for operation in _CHANGES}
        addable = []
        if may["members_create"]:
            listed, _ = await creators.list_page(
                self.session,
                org,
                None,
                None,
                None,
                _ALL,
                only=self.me.principal.within(Action.CAMPAIGN_READ),
            )
            members_here = {m.creator_id for m, _ in member_rows}
            addable = [c for c in listed if c.id not in members_here]
        context = {
            "campaign": shown,
            "stored_status": campaign.status,
            "tiers": tier_rows,
            "tier_names": {t.id: t.name for t in tier_rows},
            "members": member_rows,
            "next_members": next_members,
            "addable": addable,
            "may": may,
            "may_open_creator": self.me.can("creators_get"),
            "forms": forms or {},
            "terms": _stored_terms(shown, campaign.status),
            "notice": notice,
            "problem": problem,
            "statuses": list(CampaignStatus),
            "flags": list(FlagCode),
            "platforms": list(Platform),
            "defaults": _defaults(self.settings),
        }
        return await page(
            self.request, self.session, self.me, "campaigns_edit.html", context, current="campaigns"
        )

    async def change(
        self,
        operation: str,
        key: str,
        sent: dict[str, Any],
        do: Callable[[], Awaitable[Any]],
        notice: str,
    ) -> Response:
        """One change to the campaign as the API's `operation` (`key`: the form, `sent`:
        what it sent), refused beside the field a refusal names, in the form as sent. A
        campaign out of the person's reach answers as missing (the API's 404)."""
        section = _section(key)
        try:
            await actions.on_campaign(
                self.request, self.session, self.me.principal, operation, self.campaign_id, do
            )
        except Refused as exc:
            if exc.hidden:
                return await not_found(self.request, self.session, self.me, "campaign")
            return await self.show(problem=(section, exc.detail))
        except (DomainError, ApiError) as exc:
            form = refusal(exc, sent).form
            if not form.errors:
                return await self.show(problem=(section, form.message))
            return await self.show(forms={key: form})
        return await self.show(notice=(section, notice))


async def _this_page(
    request: Request, campaign_id: uuid.UUID, session: Session, me: Page, settings: AppSettings
) -> _CampaignPage:
    return _CampaignPage(request, session, me, settings, campaign_id)


ThisPage = Annotated[_CampaignPage, Depends(_this_page)]


@router.get("/app/campaigns/{campaign_id:uuid}")
async def campaign_page(
    here: ThisPage,
    members_cursor: str = "",
) -> Response:
    return await here.show(members_cursor=members_cursor)


def _section(key: str) -> str:
    """Where on the page a form's outcome is said: its section."""
    return {"tier": "tiers", "member": "members"}.get(key.split("-")[0], "terms")


@router.post("/app/campaigns/{campaign_id:uuid}")
async def campaign_update(
    here: ThisPage,
    form: Terms,
) -> Response:
    """`campaigns_update` with every term of the form (a blank clears an override)."""
    sent: dict[str, Any] = form.model_dump()
    try:
        body = checked(CampaignUpdate, _terms(sent), sent)
    except Invalid as exc:
        return await here.show(forms={"terms": exc.form})

    async def update() -> object:
        changes = body.model_dump(exclude_unset=True)
        org = here.org
        return await campaign_service.update(
            here.session, org, here.campaign_id, changes, here.settings
        )

    return await here.change(
        "campaigns_update",
        "terms",
        sent,
        update,
        "Saved the campaign's terms.",
    )


def _tier_sent(name: str, cpm: str, cap: str) -> dict[str, Any]:
    return {"name": name, "cpm": cpm.strip(), "cap": cap.strip()}


def _tier_body(sent: dict[str, Any]) -> dict[str, Any]:
    return {**sent, "cap": blank_none(sent["cap"])}


@router.post("/app/campaigns/{campaign_id:uuid}/tiers")
async def tier_create(
    here: ThisPage,
    name: Annotated[str, Form()] = "",
    cpm: Annotated[str, Form()] = "",
    cap: Annotated[str, Form()] = "",
) -> Response:
    sent = _tier_sent(name, cpm, cap)
    try:
        body = checked(TierCreate, _tier_body(sent), sent)
    except Invalid as exc:
        return await here.show(forms={"tier-new": exc.form})
    org = here.org

    async def create() -> object:
        return await campaign_service.create_tier(
            here.session, org, here.campaign_id, body.model_dump()
        )

    return await here.change(
        "cpm_tiers_create",
        "tier-new",
        sent,
        create,
        f"Added the tier {body.name}.",
    )


@router.post("/app/campaigns/{campaign_id:uuid}/tiers/{tier_id:uuid}")
async def tier_update(
    here: ThisPage,
    tier_id: uuid.UUID,
    name: Annotated[str, Form()] = "",
    cpm: Annotated[str, Form()] = "",
    cap: Annotated[str, Form()] = "",
) -> Response:
    """`cpm_tiers_update`: applies to posts finalized from now on."""
    key = f"tier-{tier_id}"
    sent = _tier_sent(name, cpm, cap)
    try:
        body = checked(TierUpdate, _tier_body(sent), sent)
    except Invalid as exc:
        return await here.show(forms={key: exc.form})
    org = here.org

    async def update() -> object:
        tier = await campaign_service.tier_of(here.session, org, here.campaign_id, tier_id)
        return await tiers.update(here.session, tier, body.model_dump(exclude_unset=True))

    return await here.change(
        "cpm_tiers_update",
        key,
        sent,
        update,
        f"Saved the tier {body.name}.",
    )


@router.post("/app/campaigns/{campaign_id:uuid}/tiers/{tier_id:uuid}/delete")
async def tier_delete(
    here: ThisPage,
    tier_id: uuid.UUID,
) -> Response:
    """`cpm_tiers_delete`: refused while a post uses the tier."""
    org = here.org

    async def delete() -> None:
        tier = await campaign_service.tier_of(here.session, org, here.campaign_id, tier_id)
        await campaign_service.delete_tier(here.session, tier)

    return await here.change(
        "cpm_tiers_delete",
        f"tier-{tier_id}",
        {},
        delete,
        "Deleted the tier.",
    )


def _uuid_or_text(text: str) -> str | None:
    """A select's id as the API's body takes it (blank: none); the schema judges the rest."""
    return blank_none(text)


@router.post("/app/campaigns/{campaign_id:uuid}/members")
async def member_add(
    here: ThisPage,
    creator_id: Annotated[str, Form()] = "",
    cpm_tier_id: Annotated[str, Form()] = "",
) -> Response:
    sent = {"creator_id": creator_id, "cpm_tier_id": cpm_tier_id}
    try:
        body = checked(
            MemberCreate,
            {"creator_id": _uuid_or_text(creator_id), "cpm_tier_id": _uuid_or_text(cpm_tier_id)},
            sent,
        )
    except Invalid as exc:
        return await here.show(forms={"member-new": exc.form})
    org = here.org

    async def add() -> object:
        return await member_service.add(
            here.session, org, here.campaign_id, body.creator_id, body.cpm_tier_id
        )

    return await here.change(
        "members_create",
        "member-new",
        sent,
        add,
        "Added the creator to the campaign.",
    )


@router.post("/app/campaigns/{campaign_id:uuid}/members/{creator_id:uuid}")
async def member_update(
    here: ThisPage,
    creator_id: uuid.UUID,
    cpm_tier_id: Annotated[str, Form()] = "",
) -> Response:
    """`members_update`: the default tier for posts added from now on."""
    key = f"member-{creator_id}"
    sent = {"cpm_tier_id": cpm_tier_id}
    try:
        body = checked(MemberUpdate, {"cpm_tier_id": _uuid_or_text(cpm_tier_id)}, sent)
    except Invalid as exc:
        return await here.show(forms={key: exc.form})
    org = here.org

    async def change() -> object:
        return await member_service.change_tier(
            here.session, org, here.campaign_id, creator_id, body.cpm_tier_id
        )

    return await here.change(
        "members_update",
        key,
        sent,
        change,
        "Changed the creator's default tier.",
    )


@router.post("/app/campaigns/{campaign_id:uuid}/members/{creator_id:uuid}/remove")
async def member_remove(
    here: ThisPage,
    creator_id: uuid.UUID,
) -> Response:
    """`members_delete`: their posts stay and keep being tracked."""
    org = here.org

    async def remove() -> None:
        await member_service.remove(here.session, org, here.campaign_id, creator_id)

    return await here.change(
        "members_delete",
        f"member-{creator_id}",
        {},
        remove,
        "Removed the creator from the campaign.",
    )
