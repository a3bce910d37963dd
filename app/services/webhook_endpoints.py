"""Webhook endpoints: registering one (its address checked, its secret made and shown once),
changing it, rotating its secret, sending a delivery again and sending a test event. The
API (app/routers/webhook_endpoints.py) and the dashboard's settings both act through here."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import Conflict, InvalidInput, NotFound, found
from app.models import WebhookEndpoint
from app.settings import Settings
from app.webhooks import outbox, repository, signing, ssrf, vault
from app.webhooks.events import WEBHOOK_TEST


async def check_url(url: str, settings: Settings, resolve: ssrf.Resolver) -> None:
    try:
        await ssrf.check(url, allow_private=ssrf.allow_private_urls(settings), resolve=resolve)
    except ssrf.UrlNotAllowed as exc:
        raise InvalidInput("webhook_url_not_allowed", exc.reason, "url") from None


async def endpoint(
    session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    return found(await repository.get_endpoint(session, org, endpoint_id), "webhook_endpoint")


async def create(
    session: AsyncSession,
    settings: Settings,
    org: uuid.UUID,
    fields: dict[str, Any],
    resolve: ssrf.Resolver,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint and its signing secret (the caller shows it once; it is stored
    encrypted). At most `MAX_WEBHOOK_ENDPOINTS_PER_ORG` per organization."""
    await check_url(fields["url"], settings, resolve)
    limit = settings.max_webhook_endpoints_per_org
    if await repository.count_endpoints_locked(session, org) >= limit:
        raise Conflict(
            "webhook_endpoint_limit_reached",
            f"The organization has {limit} webhook endpoints, the most it may have; delete one "
            "before creating another.",
        )
    secret = signing.generate_secret()
    row = await repository.create_endpoint(session, org, fields, vault.encrypt(settings, secret))
    return row, secret


async def update(
    session: AsyncSession,
    settings: Settings,
    org: uuid.UUID,
    endpoint_id: uuid.UUID,
    changes: dict[str, Any],
    resolve: ssrf.Resolver,
) -> WebhookEndpoint:
    """Only the fields given change; re-enabling an endpoint resumes its pending deliveries."""
    if "url" in changes:
        await check_url(changes["url"], settings, resolve)
    row = await repository.update_endpoint(session, org, endpoint_id, changes)
    return found(row, "webhook_endpoint")


async def rotate_secret(
    session: AsyncSession, settings: Settings, org: uuid.UUID, endpoint_id: uuid.UUID
) -> tuple[str, datetime]:
    """A new secret (shown once by the caller), and until when the old one keeps signing."""
    secret = signing.generate_secret()
    until = datetime.now(UTC) + timedelta(hours=settings.webhook_secret_grace_hours)
    row = await repository.rotate_secret(
        session, org, endpoint_id, vault.encrypt(settings, secret), until
    )
    found(row, "webhook_endpoint")
    return secret, until


async def retry(
    session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> repository.DeliveryView:
    """The delivery sent again at the next sweep, under the same `webhook-id`."""
    if not (await endpoint(session, org, endpoint_id)).enabled:
        raise _disabled()
    now = datetime.now(UTC)
    if not await repository.retry_delivery(session, org, endpoint_id, delivery_id, now):
        raise NotFound("webhook_delivery")
    view = await repository.get_delivery(session, org, endpoint_id, delivery_id)
    assert view is not None
    return view


async def send_test(
    session: AsyncSession, org: uuid.UUID, endpoint_id: uuid.UUID
) -> repository.DeliveryView:
    """A `webhook.test` event to this endpoint only, whatever it subscribes to."""
    if not (await endpoint(session, org, endpoint_id)).enabled:
        raise _disabled()
    _, delivery_id = await outbox.emit_to_endpoint(
        session,
        org,
        endpoint_id,
        WEBHOOK_TEST,
        {"endpoint_id": endpoint_id, "message": "A test event from ViewLedger."},
    )
    view = await repository.get_delivery(session, org, endpoint_id, delivery_id)
    assert view is not None
    return view


def _disabled() -> Conflict:
    return Conflict(
        "webhook_endpoint_disabled", "The endpoint is disabled; enable it (PATCH) first."
    )
