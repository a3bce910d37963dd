"""Webhook endpoints (admin): where signed events are delivered, their secrets, their
deliveries with every attempt, and replays."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import Admin, AppSettings, Session
from app.deps import WebhookResolver as Resolver
from app.deps import get_resolver as get_resolver  # tests override it by this name
from app.domain.enums import DeliveryStatus
from app.domain.errors import NotFound
from app.errors import PROBLEM_RESPONSES
from app.schemas.common import Cursor, Limit
from app.schemas.webhooks import (
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookEndpointPage,
    WebhookEndpointUpdate,
    WebhookSecretRotated,
)
from app.services import webhook_endpoints as endpoints
from app.webhooks import repository

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"], responses=PROBLEM_RESPONSES)


def _delivery_out(view: repository.DeliveryView) -> WebhookDeliveryOut:
    delivery, event_type, attempts = view
    return WebhookDeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=DeliveryStatus(delivery.status),
        attempts=[WebhookAttemptOut.model_validate(a) for a in attempts],
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def webhook_endpoints_create(
    body: WebhookEndpointCreate,
    session: Session,
    who: Admin,
    settings: AppSettings,
    resolve: Resolver,
) -> WebhookEndpointCreated:
    """Register an endpoint. The answer carries its signing secret, shown this once. At most
    `MAX_WEBHOOK_ENDPOINTS_PER_ORG` per organization (409 `webhook_endpoint_limit_reached`)."""
    endpoint, secret = await endpoints.create(
        session, settings, who.organization_id, body.model_dump(mode="json"), resolve
    )
    out = WebhookEndpointOut.model_validate(endpoint)
    return WebhookEndpointCreated(**out.model_dump(), secret=secret)


@router.get("")
async def webhook_endpoints_list(
    session: Session, who: Admin, cursor: Cursor = None, limit: Limit = 50
) -> WebhookEndpointPage:
    """Newest first."""
    rows, next_cursor = await repository.list_endpoints(session, who.organization_id, cursor, limit)
    return WebhookEndpointPage(
        data=[WebhookEndpointOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/{endpoint_id}")
async def webhook_endpoints_get(
    endpoint_id: uuid.UUID, session: Session, who: Admin
) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(
        await endpoints.endpoint(session, who.organization_id, endpoint_id)
    )


@router.patch("/{endpoint_id}")
async def webhook_endpoints_update(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    session: Session,
    who: Admin,
    settings: AppSettings,
    resolve: Resolver,
) -> WebhookEndpointOut:
    """Only the fields sent change; `event_types: null` subscribes to every type.
    Re-enabling an endpoint resumes its pending deliveries."""
    changes = body.model_dump(mode="json", exclude_unset=True)
    endpoint = await endpoints.update(
        session, settings, who.organization_id, endpoint_id, changes, resolve
    )
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
async def webhook_endpoints_delete(
    endpoint_id: uuid.UUID, session: Session, who: Admin
) -> Response:
    """Deletes the endpoint with its deliveries; nothing more is sent to it."""
    if not await repository.delete_endpoint(session, who.organization_id, endpoint_id):
        raise NotFound("webhook_endpoint")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/rotate-secret")
async def webhook_endpoints_rotate_secret(
    endpoint_id: uuid.UUID, session: Session, who: Admin, settings: AppSettings
) -> WebhookSecretRotated:
    """A new secret, shown this once. The old one keeps signing too (two signatures in
    `webhook-signature`) for WEBHOOK_SECRET_GRACE_HOURS, so receivers can switch over."""
    secret, until = await endpoints.rotate_secret(
        session, settings, who.organization_id, endpoint_id
    )
    return WebhookSecretRotated(secret=secret, previous_secret_expires_at=until)


@router.get("/{endpoint_id}/deliveries")
async def webhook_deliveries_list(
    endpoint_id: uuid.UUID,
    session: Session,
    who: Admin,
    status: DeliveryStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> WebhookDeliveryPage:
    """Newest first, each with every attempt (time, status, latency, the answer's first 1 KB)."""
    await endpoints.endpoint(session, who.organization_id, endpoint_id)
    views, next_cursor = await repository.list_deliveries(
        session, who.organization_id, endpoint_id, status, cursor, limit
    )
    return WebhookDeliveryPage(data=[_delivery_out(v) for v in views], next_cursor=next_cursor)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def webhook_deliveries_retry(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: Session, who: Admin
) -> WebhookDeliveryOut:
    """Send the delivery again at the next sweep (within seconds), with the same
    `webhook-id`. A failed delivery gets one more attempt."""
    view = await endpoints.retry(session, who.organization_id, endpoint_id, delivery_id)
    return _delivery_out(view)


@router.post("/{endpoint_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def webhook_endpoints_test(
    endpoint_id: uuid.UUID, session: Session, who: Admin
) -> WebhookDeliveryOut:
    """Send a `webhook.test` event to this endpoint only, whatever it subscribes to."""
    return _delivery_out(await endpoints.send_test(session, who.organization_id, endpoint_id))
