import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from app.domain.enums import DeliveryStatus
from app.schemas.common import NO_NUL, NOT_BLANK, NOT_SENT, Input, Output, Page, Patch, strip
from app.webhooks.events import EventType
from app.webhooks.ssrf import MAX_URL_LENGTH


def _distinct(values: list[EventType]) -> list[EventType]:
    if len(set(values)) != len(values):
        raise ValueError("event types must not repeat")
    return values


Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH, pattern=NOT_BLANK),
    AfterValidator(strip),
    Field(
        description="Where events are POSTed: https, resolving to public addresses only.",
        examples=["https://example.com/webhooks/viewledger"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=len(EventType),
        json_schema_extra={"uniqueItems": True},
        description="The event types sent to this endpoint; null (or absent) for all.",
    ),
    AfterValidator(_distinct),
]
Description = Annotated[
    str, StringConstraints(max_length=500, pattern=NO_NUL), AfterValidator(strip)
]
Enabled = Annotated[bool, Field(strict=True, description="Disabled endpoints receive nothing.")]
Secret = Annotated[
    str,
    Field(
        description="The signing secret (`whsec_` + base64). Shown this once; store it now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    ),
]


class WebhookEndpointCreate(Input):
    url: Url
    event_types: EventTypes | None = None
    description: Description = ""
    enabled: Enabled = True


class WebhookEndpointUpdate(Patch):
    url: Url = NOT_SENT
    event_types: EventTypes | None = None
    description: Description = NOT_SENT
    enabled: Enabled = NOT_SENT


class WebhookEndpointOut(Output):
    id: uuid.UUID
    url: str
    event_types: list[EventType] | None = Field(description="null: every event type.")
    description: str
    enabled: bool
    disabled_reason: str | None = Field(description="Why the endpoint was disabled, if it is.")
    failing_since: datetime | None = Field(
        description="Deliveries have failed since then; 5 days of it disable the endpoint."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the secret before the last rotation still signs (a second "
        "signature in `webhook-signature`)."
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: Secret


class WebhookSecretRotated(Output):
    secret: Secret
    previous_secret_expires_at: datetime = Field(
        description="Until then deliveries are signed with both the new and the old secret."
    )


class WebhookAttemptOut(Output):
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null if none.")
    latency_ms: int
    response_body: str | None = Field(description="The answer's first 1 KB.")
    error: str | None = Field(description="timeout, connection error, url_not_allowed, ...")


class WebhookDeliveryOut(Output):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The `webhook-id` header, the same on every attempt.")
    event_type: str
    status: DeliveryStatus
    attempts: list[WebhookAttemptOut]
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class WebhookEndpointPage(Page[WebhookEndpointOut]):
    pass


class WebhookDeliveryPage(Page[WebhookDeliveryOut]):
    pass
