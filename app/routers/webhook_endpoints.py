"""Webhook endpoints (admin): where signed events are delivered, their secrets, their
deliveries with every attempt, and replays."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from app.deps import Admin, AppSettings, Session
from app.domain.enums import DeliveryStatus
from app.domain.errors import Conflict, InvalidInput, NotFound, found
from app.errors import PROBLEM_RESPONSES
from app.models import WebhookEndpoint
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
from app.settings import Settings
from app.webhooks import outbox, repository, signing, ssrf, vault
from app.webhooks.events import WEBHOOK_TEST

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"], responses=PROBLEM_RESPONSES)


def get_resolver() -> ssrf.Resolver:
    """How host names are resolved for the URL check (tests override this dependency)."""
    return ssrf.system_resolve


Resolver = Annotated[ssrf.Resolver, Depends(get_resolver)]


async def _check_url(url: str, settings: Settings, resolve: ssrf.Resolver) -> None:
    try:
        await ssrf.check(url, allow_private=ssrf.allow_private_urls(settings), resolve=resolve)
    except ssrf.UrlNotAllowed as exc:
        raise InvalidInput("webhook_url_not_allowed", exc.reason, "url") from None


async def _endpoint(session: Session, org: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    return found(await repository.get_endpoint(session, org, endpoint_id), "webhook_endpoint")


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
    await _check_url(body.url, settings, resolve)
    limit = settings.max_webhook_endpoints_per_org
    if await repository.count_endpoints_locked(session, who.organization_id) >= limit:
        raise Conflict(
            "webhook_endpoint_limit_reached",
            f"The organization has {limit} webhook endpoints, the most it may have; delete one "
            "before creating another.",
        )
    secret = signing.generate_secret()
    fields = body.model_dump(mode="json")
    endpoint = await repository.create_endpoint(
        session, who.organization_id, fields, vault.encrypt(settings, secret)
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
        await _endpoint(session, who.organization_id, endpoint_id)
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
    if "url" in changes:
        await _check_url(changes["url"], settings, resolve)
    endpoint = await repository.update_endpoint(session, who.organization_id, endpoint_id, changes)
    return WebhookEndpointOut.model_validate(found(endpoint, "webhook_endpoint"))


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
    secret = signing.generate_secret()
    until = datetime.now(UTC) + timedelta(hours=settings.webhook_secret_grace_hours)
    endpoint = await repository.rotate_secret(
        session, who.organization_id, endpoint_id, vault.encrypt(settings, secret), until
    )
    found(endpoint, "webhook_endpoint")
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
    await _endpoint(session, who.organization_id, endpoint_id)
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
    endpoint = await _endpoint(session, who.organization_id, endpoint_id)
    if not endpoint.enabled:
        raise _disabled()
    now = datetime.now(UTC)
    if not await repository.retry_delivery(
        session, who.organization_id, endpoint_id, delivery_id, now
    ):
        raise NotFound("webhook_delivery")
    view = await repository.get_delivery(session, who.organization_id, endpoint_id, delivery_id)
    assert view is not None
    return _delivery_out(view)


@router.post("/{endpoint_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def webhook_endpoints_test(
    endpoint_id: uuid.UUID, session: Session, who: Admin
) -> WebhookDeliveryOut:
    """Send a `webhook.test` event to this endpoint only, whatever it subscribes to."""
    endpoint = await _endpoint(session, who.organization_id, endpoint_id)
    if not endpoint.enabled:
        raise _disabled()
    _, delivery_id = await outbox.emit_to_endpoint(
        session,
        who.organization_id,
        endpoint_id,
        WEBHOOK_TEST,
        {"endpoint_id": endpoint_id, "message": "A test event from ViewLedger."},
    )
    view = await repository.get_delivery(session, who.organization_id, endpoint_id, delivery_id)
    assert view is not None
    return _delivery_out(view)


def _disabled() -> Conflict:
    return Conflict(
        "webhook_endpoint_disabled", "The endpoint is disabled; enable it (PATCH) first."
    )
