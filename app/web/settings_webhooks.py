"""Webhook endpoints in the settings (/app/settings/webhooks), for organization admins:
register one (its signing secret shown in that answer only), change it, rotate its secret
(the new one shown once), its delivery log with every attempt, send a delivery again, send a
test event, delete it. The API's operations (app/routers/webhook_endpoints.py) through the
same service (app.services.webhook_endpoints), refusal and audit records."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import AppSettings, Session, WebhookResolver
from app.domain.errors import DomainError, NotFound
from app.models import WebhookEndpoint
from app.schemas.common import Cursor
from app.schemas.webhooks import WebhookEndpointCreate, WebhookEndpointUpdate
from app.services import webhook_endpoints as endpoints
from app.web.layout import Page, Viewer, page
from app.web.settings import (
    Admin,
    Outcome,
    Shown,
    Unfit,
    act,
    checked,
    not_an_admin,
    parse_id,
)
from app.webhooks import repository
from app.webhooks.events import EventType

router = APIRouter()

_ENDPOINTS = 100  # the API's largest page
_DELIVERIES = 20  # the newest deliveries, then the next page by the API's cursor


def _event_types(chosen: list[str]) -> list[str] | None:
    """The boxes ticked; none ticked subscribes to every type (the API's `null`)."""
    return chosen or None


async def _list(
    request: Request, session: AsyncSession, me: Viewer, outcome: Outcome | None = None
) -> Response:
    rows, more = await repository.list_endpoints(
        session, me.principal.organization_id, None, _ENDPOINTS
    )
    context = {
        "endpoints": rows,
        "more": more is not None,
        "event_types": list(EventType),
        "outcome": outcome,
    }
    return await page(request, session, me, "settings_webhooks.html", context, current="settings")


async def _endpoint(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    endpoint: WebhookEndpoint,
    outcome: Outcome | None = None,
    cursor: str | None = None,
) -> Response:
    org = me.principal.organization_id
    views, next_cursor = await repository.list_deliveries(
        session, org, endpoint.id, None, cursor, _DELIVERIES
    )
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "deliveries": views,
        "next_cursor": next_cursor,
        "paged": cursor is not None,
        "event_types": list(EventType),
        "outcome": outcome,
    }
    return await page(request, session, me, "settings_webhook.html", context, current="settings")


@router.get("/app/settings/webhooks")
async def webhooks_page(request: Request, session: Session, me: Page) -> Response:
    if (refused := await not_an_admin(request, session, me)) is not None:
        return refused
    return await _list(request, session, me)


@router.post("/app/settings/webhooks")
async def create(
    request: Request,
    session: Session,
    settings: AppSettings,
    resolve: WebhookResolver,
    me: Admin,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    event_type: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """webhook_endpoints_create: answers the new endpoint's page, its secret shown once."""
    try:
        body = checked(
            WebhookEndpointCreate,
            url=url.strip(),
            description=description.strip(),
            event_types=_event_types(event_type or []),
        )
    except Unfit as exc:
        return await _list(request, session, me, Outcome("create", error=str(exc)))
    org = me.principal.organization_id
    fields = body.model_dump(mode="json")

    made: list[WebhookEndpoint] = []

    async def do() -> tuple[WebhookEndpoint, str]:
        row, secret = await endpoints.create(session, settings, org, fields, resolve)
        made.append(row)
        return row, secret

    def done(result: tuple[WebhookEndpoint, str]) -> Outcome:
        shown = Shown(
            "Signing secret",
            result[1],
            "Give it to the receiver to verify each delivery's webhook-signature (Standard "
            "Webhooks). It is stored encrypted and cannot be shown again; rotate it for a new "
            "one.",
        )
        return Outcome("endpoint", "Endpoint created.", shown=shown)

    outcome = await act(
        request, session, me, "create", "webhook_endpoints_create", do, lambda m: m[0].id, done
    )
    if outcome.error:
        return await _list(request, session, me, outcome)
    return await _endpoint(request, session, me, made[0], outcome)


async def _found(session: AsyncSession, me: Viewer, endpoint_id: str) -> WebhookEndpoint:
    org = me.principal.organization_id
    return await endpoints.endpoint(session, org, parse_id(endpoint_id, "webhook_endpoint"))


@router.get("/app/settings/webhooks/{endpoint_id}")
async def endpoint_page(
    request: Request,
    endpoint_id: str,
    session: Session,
    me: Page,
    cursor: Annotated[Cursor, Query()] = None,
) -> Response:
    """The endpoint and its delivery log, newest first (the API's list, page by page)."""
    if (refused := await not_an_admin(request, session, me)) is not None:
        return refused
    try:
        endpoint = await _found(session, me, endpoint_id)
    except NotFound:
        return await _list(
            request, session, me, Outcome("create", error="No webhook endpoint with that id.")
        )
    try:
        return await _endpoint(request, session, me, endpoint, cursor=cursor)
    except DomainError as exc:  # a cursor of another list
        return await _endpoint(request, session, me, endpoint, Outcome("log", error=exc.detail))


async def _on_endpoint(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    endpoint_id: str,
    operation: str,
    section: str,
    do: Any,
    done: Any,
    details: dict[str, str] | None = None,
) -> Response:
    """An operation on one endpoint of the organization; the endpoint's page again with
    what it did (another organization's endpoint, or none, is not found, as in the API)."""
    outcome = await act(
        request,
        session,
        me,
        section,
        operation,
        do,
        lambda _: endpoint_id,
        done,
        {"endpoint_id": endpoint_id, **(details or {})},
    )
    try:
        endpoint = await _found(session, me, endpoint_id)
    except NotFound:
        return await _list(request, session, me, Outcome("create", error=outcome.error))
    return await _endpoint(request, session, me, endpoint, outcome)


@router.post("/app/settings/webhooks/{endpoint_id}")
async def update(
    request: Request,
    endpoint_id: str,
    session: Session,
    settings: AppSettings,
    resolve: WebhookResolver,
    me: Admin,
    url: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    enabled: Annotated[str, Form()] = "",
    event_type: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """webhook_endpoints_update: every field of the form (none ticked: every event type)."""
    try:
        body = checked(
            WebhookEndpointUpdate,
            url=url.strip(),
            description=description.strip(),
            enabled=enabled == "on",
            event_types=_event_types(event_type or []),
        )
    except Unfit as exc:
        endpoint = await _found(session, me, endpoint_id)
        return await _endpoint(request, session, me, endpoint, Outcome("edit", error=str(exc)))
    changes = body.model_dump(mode="json", exclude_unset=True)
    org = me.principal.organization_id

    async def do() -> WebhookEndpoint:
        target = parse_id(endpoint_id, "webhook_endpoint")
        return await endpoints.update(session, settings, org, target, changes, resolve)

    return await _on_endpoint(
        request,
        session,
        me,
        endpoint_id,
        "webhook_endpoints_update",
        "edit",
        do,
        lambda _: Outcome("edit", "Saved."),
    )


@router.post("/app/settings/webhooks/{endpoint_id}/rotate-secret")
async def rotate(
    request: Request, endpoint_id: str, session: Session, settings: AppSettings, me: Admin
) -> Response:
    """webhook_endpoints_rotate_secret: the new secret shown once; the old one keeps
    signing beside it for the grace period."""
    org = me.principal.organization_id

    async def do() -> tuple[str, Any]:
        target = parse_id(endpoint_id, "webhook_endpoint")
        return await endpoints.rotate_secret(session, settings, org, target)

    def done(made: tuple[str, Any]) -> Outcome:
        secret, until = made
        note = (
            f"Until {until:%Y-%m-%d %H:%M} UTC deliveries carry a signature with the old "
            "secret too, so the receiver can switch over. It cannot be shown again."
        )
        return Outcome(
            "endpoint", "Secret rotated.", shown=Shown("New signing secret", secret, note)
        )

    return await _on_endpoint(
        request, session, me, endpoint_id, "webhook_endpoints_rotate_secret", "endpoint", do, done
    )


@router.post("/app/settings/webhooks/{endpoint_id}/test")
async def send_test(request: Request, endpoint_id: str, session: Session, me: Admin) -> Response:
    """webhook_endpoints_test: a `webhook.test` event, delivered at the worker's next sweep."""
    org = me.principal.organization_id

    async def do() -> object:
        target = parse_id(endpoint_id, "webhook_endpoint")
        return await endpoints.send_test(session, org, target)

    return await _on_endpoint(
        request,
        session,
        me,
        endpoint_id,
        "webhook_endpoints_test",
        "log",
        do,
        lambda _: Outcome("log", "Test event queued: it is sent within seconds."),
    )


@router.post("/app/settings/webhooks/{endpoint_id}/deliveries/{delivery_id}/retry")
async def retry(
    request: Request, endpoint_id: str, delivery_id: str, session: Session, me: Admin
) -> Response:
    """webhook_deliveries_retry: sent again at the next sweep, under the same `webhook-id`."""
    org = me.principal.organization_id

    async def do() -> object:
        target = parse_id(endpoint_id, "webhook_endpoint")
        delivery = parse_id(delivery_id, "webhook_delivery")
        return await endpoints.retry(session, org, target, delivery)

    return await _on_endpoint(
        request,
        session,
        me,
        endpoint_id,
        "webhook_deliveries_retry",
        "log",
        do,
        lambda _: Outcome("log", "Delivery queued again: it is sent within seconds."),
        {"delivery_id": delivery_id},
    )


@router.post("/app/settings/webhooks/{endpoint_id}/delete")
async def delete(request: Request, endpoint_id: str, session: Session, me: Admin) -> Response:
    """webhook_endpoints_delete: with its deliveries; nothing more is sent to it."""
    org = me.principal.organization_id

    async def do() -> uuid.UUID:
        target = parse_id(endpoint_id, "webhook_endpoint")
        if not await repository.delete_endpoint(session, org, target):
            raise NotFound("webhook_endpoint")
        return target

    outcome = await act(
        request,
        session,
        me,
        "create",
        "webhook_endpoints_delete",
        do,
        lambda target: target,
        lambda _: Outcome("create", "Endpoint deleted; nothing more is sent to it."),
    )
    return await _list(request, session, me, outcome)
