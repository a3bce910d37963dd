import uuid

from fastapi import APIRouter, Request, Response, status

from app.deps import Admin, AppSettings, Session, Viewer
from app.domain.errors import NotFound
from app.errors import PROBLEM_RESPONSES
from app.models import Organization
from app.repositories import api_keys
from app.schemas.common import Cursor, Limit
from app.schemas.keys import KeyCreate, KeyCreated, KeyOut, KeyPage, Me
from app.services import api_keys as key_service

router = APIRouter(tags=["api-keys"], responses=PROBLEM_RESPONSES)


@router.get("/v1/me")
async def me_get(session: Session, who: Viewer) -> Me:
    """The organization and role of the key making the call."""
    org = await session.get(Organization, who.organization_id)
    assert org is not None
    return Me(organization_id=org.id, organization_name=org.name, key_id=who.key_id, role=who.role)


@router.post("/v1/api-keys", status_code=status.HTTP_201_CREATED)
async def api_keys_create(
    body: KeyCreate, session: Session, who: Admin, settings: AppSettings
) -> KeyCreated:
    """At most `MAX_API_KEYS_PER_ORG` unrevoked keys per organization (409
    `api_key_limit_reached`; revoke one first). `campaign_ids` restricts the key to those
    campaigns (404 `campaign_not_found` if one is not the organization's)."""
    row, key = await key_service.create(
        session, settings, who.organization_id, body.role, body.name, body.campaign_ids
    )
    return KeyCreated(**KeyOut.model_validate(row).model_dump(), key=key)


@router.get("/v1/api-keys")
async def api_keys_list(
    session: Session, who: Admin, cursor: Cursor = None, limit: Limit = 50
) -> KeyPage:
    """Oldest first, revoked keys included."""
    rows, next_cursor = await api_keys.list_page(session, who.organization_id, cursor, limit)
    return KeyPage(data=[KeyOut.model_validate(k) for k in rows], next_cursor=next_cursor)


@router.delete("/v1/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def api_keys_revoke(
    key_id: uuid.UUID, request: Request, session: Session, who: Admin
) -> Response:
    if not await api_keys.revoke(session, who.organization_id, key_id):
        raise NotFound("api_key")
    request.app.state.principals.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
