"""What webhooks carry. The delivery status that models also use lives in domain.enums."""

from enum import StrEnum


class EventType(StrEnum):
    """Events an endpoint can subscribe to. Each is emitted in the same transaction as the
    change it reports, with `data` being the resource as the API shows it."""

    POST_CREATED = "post.created"
    POST_FINALIZED = "post.finalized"
    POST_PENDING_CPM = "post.pending_cpm"
    POST_REJECTED = "post.rejected"
    POST_HELD = "post.held"
    POST_HOLD_CLEARED = "post.hold_cleared"
    POST_RESTORED = "post.restored"
    POST_PAID = "post.paid"
    POST_FLAGGED = "post.flagged"
    POST_FLAG_RESOLVED = "post.flag_resolved"
    PAYOUT_CREATED = "payout.created"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_CANCELLED = "payout.cancelled"
    REFRESH_RUN_FINISHED = "refresh_run.finished"
    CREATOR_RENAMED = "creator.renamed"


# Sent by `POST /v1/webhook-endpoints/{id}/test` to that endpoint only, whatever it
# subscribes to. Not an EventType: nobody subscribes to it, so the API's schema of
# `event_types` lists exactly the subscribable types.
WEBHOOK_TEST = "webhook.test"
