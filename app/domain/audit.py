"""The audit log's vocabulary: which operation records which action on which kind of
resource. Security- and money-relevant actions only; reads are not audited."""

from collections.abc import Mapping

# operation id -> (action, resource type, the path parameter naming the resource; None: the
# resource the operation created)
AUDITED: Mapping[str, tuple[str, str, str | None]] = {
    "api_keys_create": ("api_key.created", "api_key", None),
    "api_keys_revoke": ("api_key.revoked", "api_key", "key_id"),
    "users_create": ("user.invited", "user", None),
    "users_update": ("user.updated", "user", "user_id"),
    "users_delete": ("user.removed", "user", "user_id"),
    "users_password_link": ("user.password_link_issued", "user", "user_id"),
    "campaign_roles_set": ("campaign_role.set", "campaign", "campaign_id"),
    "campaign_roles_delete": ("campaign_role.removed", "campaign", "campaign_id"),
    "two_factor_confirm": ("user.two_factor_enabled", "user", None),
    "users_two_factor_reset": ("user.two_factor_reset", "user", "user_id"),
    "organization_update": ("organization.updated", "organization", None),
    "session_delete": ("user.signed_out", "user", None),
    "sessions_delete": ("user.signed_out_everywhere", "user", None),
    "posts_update": ("post.updated", "post", "post_id"),  # tier assignment among others
    "posts_reject": ("post.rejected", "post", "post_id"),
    "posts_restore": ("post.restored", "post", "post_id"),
    "posts_mark_paid": ("post.marked_paid", "post", "post_id"),
    "posts_holds_clear": ("hold.cleared", "post", "post_id"),
    "posts_flags_resolve": ("flag.resolved", "post", "post_id"),
    "payouts_create": ("payout.created", "payout", None),
    "payouts_mark_paid": ("payout.paid", "payout", "payout_id"),
    "payouts_cancel": ("payout.cancelled", "payout", "payout_id"),
    "webhook_endpoints_create": ("webhook_endpoint.created", "webhook_endpoint", None),
    "webhook_endpoints_update": ("webhook_endpoint.updated", "webhook_endpoint", "endpoint_id"),
    "webhook_endpoints_delete": ("webhook_endpoint.deleted", "webhook_endpoint", "endpoint_id"),
    "webhook_endpoints_rotate_secret": (
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint",
        "endpoint_id",
    ),
    "discord_integration_put": ("integration.discord_connected", "integration", None),
    "discord_integration_delete": ("integration.discord_disconnected", "integration", None),
    "discord_commands_register": ("integration.discord_commands_registered", "integration", None),
}

# Recorded by the sign-in endpoints themselves (no caller is authenticated there).
SIGNED_IN = "user.signed_in"
SIGN_IN_THROTTLED = "user.sign_in_throttled"  # a burst of failed sign-ins hit the limit
PASSWORD_SET = "user.password_set"
PASSWORD_RESET_REQUESTED = "user.password_reset_requested"  # by the user, by email
