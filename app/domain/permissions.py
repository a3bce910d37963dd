"""Who may do what: one table for API keys and signed-in users alike, and the one function
that reads it (`allowed`). The README's permission table is this table.

A caller is an API key (`admin`, `editor`, `viewer`) or a user acting through their own key
row (an org `admin` acts as an admin key; an org `member` only through campaign roles). A
caller is *restricted* when it reaches only some campaigns: a member (the campaigns they
hold a role in) or a key with `campaign_ids`. For a restricted caller:
- an action on a campaign outside its reach is answered as if the campaign did not exist;
- an action inside its reach needs the action allowed to its campaign role (a restricted key
  acts with its key role there);
- an action on nothing campaign-shaped (org-wide lists, creators, keys, users, webhooks,
  payout batches) is refused unless the table marks it open to restricted callers."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.enums import Role


class CampaignRole(StrEnum):
    CAMPAIGN_ADMIN = "campaign_admin"  # the roster, the posts, the deal terms, and all below
    CAMPAIGN_EDITOR = "campaign_editor"  # CPM tiers, tier assignment, decisions, marking paid


class Action(StrEnum):
    CAMPAIGN_READ = "campaign.read"
    CAMPAIGN_CREATE = "campaign.create"
    CAMPAIGN_TERMS = "campaign.terms"
    CAMPAIGN_DELETE = "campaign.delete"
    TIERS_MANAGE = "tiers.manage"
    ROSTER_MANAGE = "roster.manage"
    POSTS_ADD = "posts.add"
    POSTS_EDIT = "posts.edit"
    POST_DECIDE = "post.decide"
    POST_MARK_PAID = "post.mark_paid"


@dataclass(frozen=True)
class Rule:
    key_role: Role  # the least key role (an org admin user acts as an admin key)
    campaign_roles: frozenset[CampaignRole]  # what a campaign role must be, when restricted
    campaign_scoped: bool = True  # acts on one campaign (a restricted caller may, inside it)


_BOTH = frozenset(CampaignRole)
_ADMIN_ONLY = frozenset({CampaignRole.CAMPAIGN_ADMIN})
_NONE: frozenset[CampaignRole] = frozenset()

PERMISSIONS: Mapping[Action, Rule] = {
    Action.CAMPAIGN_READ: Rule(Role.VIEWER, _BOTH),
    Action.CAMPAIGN_CREATE: Rule(Role.EDITOR, _NONE, campaign_scoped=False),
    Action.CAMPAIGN_TERMS: Rule(Role.EDITOR, _ADMIN_ONLY),
    Action.CAMPAIGN_DELETE: Rule(Role.ADMIN, _NONE),
    Action.TIERS_MANAGE: Rule(Role.EDITOR, _BOTH),
    Action.ROSTER_MANAGE: Rule(Role.EDITOR, _ADMIN_ONLY),
    Action.POSTS_ADD: Rule(Role.EDITOR, _ADMIN_ONLY),
    Action.POSTS_EDIT: Rule(Role.EDITOR, _BOTH),
    Action.POST_DECIDE: Rule(Role.ADMIN, _BOTH),
    Action.POST_MARK_PAID: Rule(Role.ADMIN, _BOTH),
}

# Each operation that a restricted caller may reach, with its action. Any other operation
# answers a restricted caller 403 (default deny), whatever its key role.
OPERATIONS: Mapping[str, Action] = {
    "campaigns_list": Action.CAMPAIGN_READ,  # filtered to the caller's campaigns
    "campaigns_get": Action.CAMPAIGN_READ,
    "campaigns_update": Action.CAMPAIGN_TERMS,
    "campaigns_delete": Action.CAMPAIGN_DELETE,
    "cpm_tiers_create": Action.TIERS_MANAGE,
    "cpm_tiers_list": Action.CAMPAIGN_READ,
    "cpm_tiers_update": Action.TIERS_MANAGE,
    "cpm_tiers_delete": Action.TIERS_MANAGE,
    "members_create": Action.ROSTER_MANAGE,
    "members_list": Action.CAMPAIGN_READ,
    "members_update": Action.ROSTER_MANAGE,
    "members_delete": Action.ROSTER_MANAGE,
    "posts_create": Action.POSTS_ADD,
    "campaign_posts_list": Action.CAMPAIGN_READ,
    "posts_get": Action.CAMPAIGN_READ,
    "posts_update": Action.POSTS_EDIT,
    "posts_reject": Action.POST_DECIDE,
    "posts_restore": Action.POST_DECIDE,
    "posts_mark_paid": Action.POST_MARK_PAID,
    "posts_holds_clear": Action.POST_DECIDE,
    "posts_evidence": Action.CAMPAIGN_READ,
    "posts_flags": Action.CAMPAIGN_READ,
    "posts_flags_resolve": Action.POST_DECIDE,
    "posts_snapshot_raw": Action.CAMPAIGN_READ,
    "posts_events": Action.CAMPAIGN_READ,
    "posts_stats": Action.CAMPAIGN_READ,
    "campaigns_analytics": Action.CAMPAIGN_READ,
    "posts_bulk_create": Action.POSTS_ADD,
    "watched_accounts_create": Action.POSTS_ADD,
    "watched_accounts_list": Action.CAMPAIGN_READ,
    "watched_accounts_get": Action.CAMPAIGN_READ,
    "watched_accounts_update": Action.POSTS_ADD,
    "watched_accounts_delete": Action.POSTS_ADD,
}

_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Actor:
    """What authorization needs to know of a caller."""

    key_role: Role
    # None: every campaign of the organization. Otherwise the campaigns it reaches.
    campaign_ids: frozenset[uuid.UUID] | None = None
    # A member's roles, per campaign (the campaigns it reaches are these).
    campaign_roles: Mapping[uuid.UUID, CampaignRole] | None = field(default=None)

    @property
    def restricted(self) -> bool:
        return self.campaign_roles is not None or self.campaign_ids is not None

    def reaches(self, campaign_id: uuid.UUID) -> bool:
        if self.campaign_roles is not None:
            return campaign_id in self.campaign_roles
        return self.campaign_ids is None or campaign_id in self.campaign_ids

    def reachable(self) -> frozenset[uuid.UUID] | None:
        if self.campaign_roles is not None:
            return frozenset(self.campaign_roles)
        return self.campaign_ids


class Decision(StrEnum):
    ALLOW = "allow"
    FORBID = "forbid"  # 403: the caller sees the resource but may not do this
    HIDE = "hide"  # 404: the resource is outside the caller's reach


def allowed(actor: Actor, action: Action, campaign_id: uuid.UUID | None = None) -> Decision:
    """The one authorization rule, for keys and users alike."""
    rule = PERMISSIONS[action]
    if not actor.restricted:
        return Decision.ALLOW if _RANK[actor.key_role] >= _RANK[rule.key_role] else Decision.FORBID
    if not rule.campaign_scoped or campaign_id is None:
        return Decision.FORBID
    if not actor.reaches(campaign_id):
        return Decision.HIDE
    if actor.campaign_roles is not None:  # a member: by campaign role
        ok = actor.campaign_roles[campaign_id] in rule.campaign_roles
    else:  # a restricted key: by its key role, inside its campaigns
        ok = _RANK[actor.key_role] >= _RANK[rule.key_role]
    return Decision.ALLOW if ok else Decision.FORBID


# Operations about many campaigns that a restricted caller may call, with the action it must
# hold on a campaign for that campaign's records to be included: the answer is filtered to
# those campaigns (`within`), and a record of another campaign answers 404. A payout batch is
# within a caller's reach when every post in it is; it is created only from those posts.
FILTERED: Mapping[str, Action] = {
    "posts_list": Action.CAMPAIGN_READ,  # the change feed too (sort=updated_at)
    "posts_export_csv": Action.CAMPAIGN_READ,  # posts_list's rows as a file
    "payouts_ready": Action.CAMPAIGN_READ,
    "payouts_list": Action.CAMPAIGN_READ,
    "payouts_get": Action.CAMPAIGN_READ,
    "payouts_export_csv": Action.CAMPAIGN_READ,
    "payouts_summary_csv": Action.CAMPAIGN_READ,
    "payouts_export_xlsx": Action.CAMPAIGN_READ,
    "payouts_ready_posts": Action.CAMPAIGN_READ,
    "payouts_pulse": Action.CAMPAIGN_READ,
    "payouts_create": Action.POST_MARK_PAID,
    "payouts_mark_paid": Action.POST_MARK_PAID,
    "payouts_cancel": Action.POST_MARK_PAID,
    "refresh_runs_create": Action.POSTS_EDIT,
    "refresh_runs_list": Action.CAMPAIGN_READ,
    "refresh_runs_get": Action.CAMPAIGN_READ,
    "creators_list": Action.CAMPAIGN_READ,  # the members of the caller's campaigns
    "post_imports_get": Action.CAMPAIGN_READ,
    "organization_analytics": Action.CAMPAIGN_READ,  # over the caller's campaigns
}


def within(actor: Actor, action: Action) -> frozenset[uuid.UUID] | None:
    """The one place a caller becomes "which campaigns": those on which `action` is allowed
    to it. None means every campaign of the organization (an unrestricted caller whose key
    role allows the action; one whose role does not is refused before this is asked)."""
    reach = actor.reachable()
    if reach is None:
        return None
    return frozenset(c for c in reach if allowed(actor, action, c) is Decision.ALLOW)
