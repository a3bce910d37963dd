"""Tables. Every row carries its organization_id so every query can be scoped to one tenant."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.domain.enums import (
    CampaignStatus,
    DeliveryStatus,
    OrgRole,
    PayoutStatus,
    Platform,
    PostStatus,
    Role,
    StatsSource,
    UserStatus,
    UserTokenPurpose,
)
from app.ids import new_id

Timestamp = DateTime(timezone=True)
Money = Numeric(12, 2)
# Earnings: any amount a tier (cpm NUMERIC(12,4), no cap) can produce for any view count a
# platform can report (a bigint); see app/domain/lifecycle.EXACT_DIGITS.
Earnings = Numeric(28, 2)


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def _enum(values: type[StrEnum]) -> Enum:
    """A StrEnum column stored as its value in a VARCHAR(16), so rows read back as members
    (the table's CHECK constraint, not a native type, holds the set of values)."""
    return Enum(
        values,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


def _pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)


def _org_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)


def _created() -> Mapped[datetime]:
    return mapped_column(Timestamp, nullable=False, server_default=func.now())


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = _pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = _created()
    # Who must sign in with a second factor: off, admins, everyone (app.domain.two_factor).
    require_two_factor: Mapped[str] = mapped_column(
        String(16), nullable=False, server_default="off"
    )


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(_in("role", Role), name="role"),)

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    role: Mapped[Role] = mapped_column(_enum(Role), nullable=False)
    # The first characters of the key, kept to tell keys apart in listings; never enough to use.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Set on a user's own key row (app.services.users): what the user's sign-in sessions act
    # through, so idempotency and the actor columns name it. Its secret was never kept, so it
    # cannot be used as a bearer token; it is not listed, counted or revoked as a key.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", use_alter=True), unique=True
    )
    # Set: the key reaches only these campaigns (app.domain.permissions); NULL: all of them.
    campaign_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("status", CampaignStatus), name="status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("min_views >= 0", name="min_views"),
        CheckConstraint("finalize_after_days >= 0", name="finalize_after_days"),
        CheckConstraint(
            "ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates"
        ),
        Index(None, "organization_id", "id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="USD")
    status: Mapped[CampaignStatus] = mapped_column(
        _enum(CampaignStatus), nullable=False, server_default="active"
    )
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    min_views: Mapped[int | None] = mapped_column(Integer)
    finalize_after_days: Mapped[int | None] = mapped_column(Integer)
    # Integrity flag codes (app.domain.flags.FlagCode) that act as holds in this campaign.
    hold_on_flags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default="{}"
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )


class CpmTier(Base):
    __tablename__ = "cpm_tiers"
    __table_args__ = (
        UniqueConstraint("campaign_id", "name"),
        CheckConstraint("cpm >= 0", name="cpm"),
        CheckConstraint("cap IS NULL OR cap >= 0", name="cap"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    cpm: Mapped[Decimal] = mapped_column(Numeric(12, 4), nullable=False)
    cap: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = _created()


class Creator(Base):
    __tablename__ = "creators"
    __table_args__ = (
        CheckConstraint(_in("platform", Platform), name="platform"),
        # Handles are case-insensitive on both platforms.
        Index(
            "creators_organization_id_platform_lower_handle_key",
            "organization_id",
            "platform",
            text("lower(handle)"),
            unique=True,
        ),
        Index(
            "creators_organization_id_platform_platform_user_id_key",
            "organization_id",
            "platform",
            "platform_user_id",
            unique=True,
            postgresql_where=text("platform_user_id IS NOT NULL"),
        ),
        Index(None, "organization_id", "id"),
        # The daily handle check's claim (app/repositories/handle_checks.py).
        Index(
            "creators_youtube_handle_check_idx",
            "handle_checked_at",
            postgresql_where=text("platform = 'youtube' AND platform_user_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    platform: Mapped[Platform] = mapped_column(_enum(Platform), nullable=False)
    handle: Mapped[str] = mapped_column(Text, nullable=False)
    platform_user_id: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the creator's access code (app/services/access_codes.py); the code itself is
    # shown once and never stored.
    access_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # YouTube: when channels.list was last asked for the channel's @handle (videos.list does
    # not name it); a claimed check sets it ahead so the channel comes due again after a lease.
    handle_checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )


class CampaignMember(Base):
    __tablename__ = "campaign_members"
    __table_args__ = (
        PrimaryKeyConstraint("campaign_id", "creator_id"),
        Index(None, "creator_id"),
    )

    organization_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), nullable=False
    )
    cpm_tier_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("cpm_tiers.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        # One video is tracked once per organization; a duplicate kept from before this rule
        # points at its original and carries a duplicate_video hold.
        Index(
            "posts_organization_id_platform_platform_post_id_key",
            "organization_id",
            "platform",
            "platform_post_id",
            unique=True,
            postgresql_where=text("duplicate_of IS NULL"),
        ),
        CheckConstraint("open_holds >= 0", name="open_holds"),
        CheckConstraint(_in("platform", Platform), name="platform"),
        CheckConstraint(_in("status", PostStatus), name="status"),
        CheckConstraint("views >= 0 AND likes >= 0 AND comments >= 0", name="counts"),
        CheckConstraint("earnings IS NULL OR earnings >= 0", name="earnings"),
        # The indexes behind the list endpoints' keyset pagination (sort key, then id).
        Index(None, "organization_id", "id"),
        Index(None, "organization_id", "aged_from", "id"),
        Index(None, "organization_id", "status", "id"),
        Index(None, "organization_id", "views", "id"),
        Index(None, "campaign_id", "id"),
        Index(None, "campaign_id", "aged_from", "id"),
        Index(None, "campaign_id", "status", "id"),
        Index(None, "campaign_id", "views", "id"),  # also the analytics' top posts
        Index(None, "creator_id", "id"),
        # The change feed (sort=updated_at): an organization's and a campaign's.
        Index(None, "organization_id", "updated_at", "id"),
        Index(None, "campaign_id", "updated_at", "id"),
        # The engine's claim: due posts of one platform, most overdue first.
        Index(
            None,
            "platform",
            "next_refresh_at",
            postgresql_where=text("next_refresh_at IS NOT NULL"),
        ),
        # The claim's active and settled branches (app/repositories/claims.py), each reading only
        # the due posts of its class, organization by organization.
        Index(
            "posts_active_due_idx",
            "organization_id",
            "platform",
            "next_refresh_at",
            postgresql_where=text(
                "status IN ('held', 'pending_cpm', 'tracking') AND next_refresh_at IS NOT NULL"
            ),
        ),
        Index(
            "posts_settled_due_idx",
            "organization_id",
            "platform",
            "next_refresh_at",
            postgresql_where=text(
                "status IN ('finalized', 'paid') AND next_refresh_at IS NOT NULL"
            ),
        ),
        # A run's remaining posts (it is finished when none is left).
        Index(None, "refresh_run_id", postgresql_where=text("refresh_run_id IS NOT NULL")),
        # The lifecycle sweep: tracking posts by age.
        Index(
            "posts_tracking_aged_from_idx",
            "aged_from",
            postgresql_where=text("status = 'tracking'"),
        ),
        # The claim's deadline branch, organization by organization: tracking posts aged up
        # to the urgency bound are the few near or past their deadline. Without it the branch
        # read every post of that age, settled ones too, per organization: at 1,000,000 posts
        # with 22,700 Instagram posts due, 168 ms a claim; 3 ms with it.
        Index(
            "posts_tracking_urgent_idx",
            "organization_id",
            "platform",
            "aged_from",
            postgresql_where=text("status = 'tracking' AND next_refresh_at IS NOT NULL"),
        ),
        # What waits for a person: posts whose last fetch failed (a success clears the code),
        # among them those the platform keeps refusing (app.domain.attention.REFUSALS).
        Index(
            "posts_fetch_error_idx",
            "organization_id",
            "id",
            postgresql_where=text("last_error_code IS NOT NULL"),
        ),
        # What is ready to pay (app/repositories/payouts.py: the ready lines, summed by creator,
        # and the payments page's totals): the organization's finalized posts without an
        # open hold, in creator order, with what the sums read. Without it an organization of
        # 100,000 posts read its 31,000 finalized posts from the table for every page (the
        # lines ~130 ms, the totals ~180 ms; ~28 ms and ~60 ms with it).
        Index(
            "posts_ready_idx",
            "organization_id",
            "creator_id",
            postgresql_include=["id", "campaign_id", "locked_views", "earnings"],
            postgresql_where=text("status = 'finalized' AND open_holds = 0"),
        ),
        # The payments page's "paid this month": an organization's paid posts by when, with
        # what the sums read (migration 0029).
        Index(
            "posts_paid_idx",
            "organization_id",
            "paid_at",
            postgresql_include=["campaign_id", "earnings"],
            postgresql_where=text("status = 'paid'"),
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id"), nullable=False)
    platform: Mapped[Platform] = mapped_column(_enum(Platform), nullable=False)
    platform_post_id: Mapped[str] = mapped_column(Text, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)
    status: Mapped[PostStatus] = mapped_column(
        _enum(PostStatus), nullable=False, server_default="tracking"
    )
    cpm_tier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cpm_tiers.id"))

    views: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    # NULL: unknown (YouTube leaves likeCount out when the channel hides likes).
    likes: Mapped[int | None] = mapped_column(BigInteger, server_default="0")
    comments: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    shares: Mapped[int | None] = mapped_column(BigInteger)  # Instagram reports none

    locked_views: Mapped[int | None] = mapped_column(BigInteger)
    # When the platform answered with the locked views, and the snapshot of that answer.
    locked_observed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    locked_snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    earnings: Mapped[Decimal | None] = mapped_column(Earnings)
    finalized_at: Mapped[datetime | None] = mapped_column(Timestamp)
    rejection_code: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(Timestamp)
    payout_reference: Mapped[str | None] = mapped_column(Text)

    last_refreshed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Any fetch attempt, whatever came of it: the deadline sweep waits for one after the
    # deadline before it falls back to last-known stats.
    last_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Set when an admin restores a post: its deadline decision then waits for stats fetched
    # after this moment (otherwise the sweep would re-decide on the very stats it rejected).
    decide_after: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error_code: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(Timestamp)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # What the last fetch came to, whatever it was (refreshed, skipped_carousel, not_found,
    # withheld, ...: app.platforms.contract.OUTCOME_CODES), and when.
    last_fetch_outcome: Mapped[str | None] = mapped_column(Text)
    last_fetch_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # How many of its holds are open. Kept on the post, in the statements that raise and
    # clear holds, because decisions are guarded by it: a decision made while a hold was open
    # (or before one was raised) never lands once the count has changed.
    open_holds: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # A fetch's count that fell suspiciously far below `views`: stored as a snapshot but not
    # applied until a second answer confirms it (app.domain.integrity.suspicious_drop).
    unconfirmed_views: Mapped[int | None] = mapped_column(BigInteger)
    # The codes of its open integrity flags (post_flags), kept here for lists and analytics.
    flags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, server_default="{}")
    # Set only on a duplicate found when ids became canonical: the post first added.
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # How it joined: `submitted` (the API, the dashboard, a bulk paste, Discord) or
    # `watched_account` (found on a watched account, app.domain.watching), with that watch.
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="submitted")
    watched_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("watched_accounts.id", ondelete="SET NULL")
    )

    # Scheduling, owned by the tracking engine: when the post is next due for a fetch (NULL:
    # never again: rejected, or past the refresh window), and until when a worker holds it.
    next_refresh_at: Mapped[datetime | None] = mapped_column(Timestamp, server_default=func.now())
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The refresh run waiting for this post, if any: an on-demand run, or the scheduled run
    # of the sweep that claimed it. The run is finished when no post points at it.
    refresh_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("refresh_runs.id", ondelete="SET NULL")
    )

    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )
    # What a post's age is measured from: its publish time, or when it was added if unknown.
    aged_from: Mapped[datetime] = mapped_column(
        Timestamp, Computed("coalesce(published_at, created_at)", persisted=True)
    )


class WatchedAccount(Base):
    """A creator's account watched for a campaign: its new videos join the campaign by
    themselves (issue 29; app.domain.watching decides which, the worker's watch job looks)."""

    __tablename__ = "watched_accounts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "creator_id"),
        CheckConstraint("initial_import IN (0, 5, 10, 15, 30)", name="initial_import"),
        Index(None, "campaign_id", "id"),
        Index(None, "creator_id"),
        # The watch job's claim: enabled watches by when they are next due.
        Index(
            "watched_accounts_due_idx",
            "platform",
            "next_check_at",
            postgresql_where=text("enabled AND next_check_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), nullable=False
    )
    # The creator's (whose platform is checked there), kept here for the job's claim.
    platform: Mapped[Platform] = mapped_column(_enum(Platform), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    initial_import: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    include_hashtags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default="{}"
    )
    exclude_hashtags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default="{}"
    )
    # Videos published after this are new; the first check also takes `initial_import` of
    # the most recent older ones (`initial_done` once it has).
    started_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now()
    )
    initial_done: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    # The newest publish time a check saw: a later check reads pages until one has nothing
    # newer.
    seen_through: Mapped[datetime | None] = mapped_column(Timestamp)
    last_checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    next_check_at: Mapped[datetime | None] = mapped_column(Timestamp)  # NULL: paused
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_outcome: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    videos_seen: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    videos_added: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Listed posts not added, by reason (app.domain.watching.Skip).
    skipped: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )


class PostHold(Base):
    """A reason a post must not be paid automatically. Raised once per post and code (a
    cleared hold is not raised again), cleared by an admin with a reason."""

    __tablename__ = "post_holds"
    __table_args__ = (
        UniqueConstraint("post_id", "code"),
        Index(
            "post_holds_open_code_idx",
            "organization_id",
            "code",
            "post_id",
            postgresql_where=text("cleared_at IS NULL"),
        ),
        # What waits for a person: an organization's open holds, oldest first.
        Index(
            "post_holds_open_idx",
            "organization_id",
            "id",
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = _org_fk()
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), nullable=False
    )
    code: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    raised_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now()
    )
    cleared_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cleared_by_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    clear_reason: Mapped[str | None] = mapped_column(Text)


class CreatorRename(Base):
    """A creator's handle as the platform changed it, seen on a fetch of one of its posts
    (`post_id`) or, for a YouTube channel, in channels.list's answer (no post)."""

    __tablename__ = "creator_renames"
    __table_args__ = (Index(None, "creator_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = _org_fk()
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), nullable=False
    )
    old_handle: Mapped[str] = mapped_column(Text, nullable=False)
    new_handle: Mapped[str] = mapped_column(Text, nullable=False)
    post_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    renamed_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now()
    )


class RefreshRun(Base):
    """One pass of refreshing posts: on demand (POST /v1/refresh-runs) or a scheduled sweep.
    Outcome counts per provider live in refresh_run_counts."""

    __tablename__ = "refresh_runs"
    __table_args__ = (
        CheckConstraint("kind IN ('on_demand', 'scheduled')", name="kind"),
        Index(None, "organization_id", "id"),
        # The open-run limit, and the retention sweep.
        Index(
            "refresh_runs_open_idx",
            "organization_id",
            postgresql_where=text("finished_at IS NULL"),
        ),
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # The narrowings (campaign_id, platform) as JSON; a list of post ids is kept as its
    # count and a digest (a run may name 1,000 ids; they are not needed after it starts).
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    post_ids_count: Mapped[int | None] = mapped_column(Integer)
    post_ids_digest: Mapped[str | None] = mapped_column(String(64))
    force: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    queued: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Posts in scope left out because they were fetched within the minimum interval.
    skipped_recent: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    done: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class RefreshRunCount(Base):
    __tablename__ = "refresh_run_counts"
    __table_args__ = (PrimaryKeyConstraint("run_id", "source", "outcome"),)

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("refresh_runs.id", ondelete="CASCADE"), nullable=False
    )
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # refreshed, failed, skipped
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class StatsSnapshot(Base):
    __tablename__ = "stats_snapshots"
    __table_args__ = (
        CheckConstraint(_in("source", StatsSource), name="source"),
        Index(None, "post_id", "captured_at"),
        Index(None, "campaign_id", "captured_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), nullable=False
    )
    # Denormalised from the post so campaign analytics read one index range, not a join.
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    captured_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    views: Mapped[int] = mapped_column(BigInteger, nullable=False)
    likes: Mapped[int | None] = mapped_column(BigInteger)  # NULL: hidden by the channel
    comments: Mapped[int] = mapped_column(BigInteger, nullable=False)
    shares: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[StatsSource] = mapped_column(_enum(StatsSource), nullable=False)
    # Provenance: where in the answer the views were read, when the request went out and
    # its answer came back (wall-clock), and the answer's SHA-256.
    views_field: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime | None] = mapped_column(Timestamp)
    answered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    # False: a suspicious drop stored for the record but not applied to the post.
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")


class RawAnswer(Base):
    """A snapshot's provider answer, zlib-compressed. Kept for good once a decision or a
    flag used its snapshot (`kept`); otherwise pruned after RAW_ANSWER_RETENTION_DAYS."""

    __tablename__ = "raw_answers"
    __table_args__ = (
        Index("raw_answers_prunable_idx", "captured_at", postgresql_where=text("NOT kept")),
    )

    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("stats_snapshots.id", ondelete="CASCADE"), primary_key=True
    )
    captured_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)  # before compression
    kept: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")


class PostFlag(Base):
    """An integrity flag: something in a post's numbers a person should look at. Unlike a
    hold it does not stop payment, unless its campaign lists the code in `hold_on_flags`.
    Raised once per post and code (a resolved flag is not raised again)."""

    __tablename__ = "post_flags"
    __table_args__ = (
        UniqueConstraint("post_id", "code"),
        # What waits for a person: an organization's open flags, oldest first.
        Index(
            "post_flags_open_idx",
            "organization_id",
            "id",
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = _org_fk()
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), nullable=False
    )
    code: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    raised_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    resolved_by_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    resolution_note: Mapped[str | None] = mapped_column(Text)


class CampaignDailyViews(Base):
    """Views a campaign gained each UTC day, kept by the writer of the snapshots (each
    snapshot's views minus the post's views before it), so the analytics' daily series
    reads a few rows instead of every snapshot in its window."""

    __tablename__ = "campaign_daily_views"
    __table_args__ = (PrimaryKeyConstraint("campaign_id", "day"),)

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    day: Mapped[date] = mapped_column(Date, nullable=False)
    # Sums of bigint view counts, so wider than a bigint: two posts reporting a platform's
    # largest count on one day would overflow one.
    views_gained: Mapped[Decimal] = mapped_column(Numeric(38, 0), nullable=False)
    # The part of views_gained that posts already had at their first fetch that day: the
    # analytics report it as a baseline, not as growth.
    baseline_views: Mapped[Decimal] = mapped_column(
        Numeric(38, 0), nullable=False, server_default="0"
    )


class CreatorDailyViews(Base):
    """The same rollup per campaign, creator and day (with the creator's platform), kept by
    the same statement: a campaign's day is the sum of its creators'. The analytics read it
    when a report is filtered by creator or platform."""

    __tablename__ = "creator_daily_views"
    __table_args__ = (
        PrimaryKeyConstraint("campaign_id", "creator_id", "day"),
        CheckConstraint(_in("platform", Platform), name="platform"),
        Index(None, "creator_id", "day"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), nullable=False
    )
    day: Mapped[date] = mapped_column(Date, nullable=False)
    platform: Mapped[Platform] = mapped_column(_enum(Platform), nullable=False)
    views_gained: Mapped[Decimal] = mapped_column(Numeric(38, 0), nullable=False)
    baseline_views: Mapped[Decimal] = mapped_column(
        Numeric(38, 0), nullable=False, server_default="0"
    )


class PostEvent(Base):
    """Append-only: one row per status change, never updated or deleted."""

    __tablename__ = "post_events"
    __table_args__ = (Index(None, "post_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = _org_fk()
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), nullable=False
    )
    from_status: Mapped[PostStatus | None] = mapped_column(_enum(PostStatus))
    to_status: Mapped[PostStatus] = mapped_column(_enum(PostStatus), nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # NULL actor_key_id means the system did it (the lifecycle sweep).
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()
    # What a decision was made on (app.domain.evidence): the observation, the rules and the
    # tier's terms as they were, and the arithmetic. NULL for events that decide nothing.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class IdempotencyKey(Base):
    """A write's `Idempotency-Key`, per API key (another key's same `Idempotency-Key` is
    another request): the request's fingerprint and, once answered, the answer to replay.
    While the first request runs, `locked_until` is its lease; a crashed request's key is
    taken over once the lease lapses."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "api_key_id", "key"),
        Index(None, "expires_at"),
    )

    organization_id: Mapped[uuid.UUID] = _org_fk()
    api_key_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    )
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


# Webhooks


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index(None, "organization_id", "id"),)

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    url: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # NULL: every event type; otherwise the subscribed types.
    event_types: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Fernet tokens (app.webhooks.vault), never the secrets themselves.
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The first failed attempt since the last success; NULL while deliveries succeed.
    failing_since: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )


class WebhookEvent(Base):
    """The outbox: one row per event, written in the transaction of the change it reports."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index(None, "organization_id", "id"),
        # What the retention prune scans: the oldest events first.
        Index(None, "created_at"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    # {"type", "timestamp", "data"}: the body every delivery of this event sends.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = _created()


class WebhookDelivery(Base):
    """One event to one endpoint: created by the emit that wrote the event, then attempted
    by the worker until a 2xx or the end of the retry schedule."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_in("status", DeliveryStatus), name="status"),
        UniqueConstraint("event_id", "endpoint_id"),
        Index(None, "endpoint_id", "created_at", "id"),
        # What the sweep claims: due pending deliveries, oldest first.
        Index(
            "webhook_deliveries_due_idx",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # The same per organization: the sweep takes organizations in turns.
        Index(
            "webhook_deliveries_org_due_idx",
            "organization_id",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    organization_id: Mapped[uuid.UUID] = _org_fk()
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Set by the worker that claimed it; a result is recorded only under the same token.
    lease_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class WebhookDeliveryAttempt(Base):
    """Append-only: one row per HTTP attempt."""

    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index(None, "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
    )
    attempted_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


# Payouts


class Payout(Base):
    """A batch of posts to pay together: fixed at creation (its lines), then paid or
    cancelled as a whole."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint(_in("status", PayoutStatus), name="status"),
        CheckConstraint(
            "status <> 'paid' OR (paid_at IS NOT NULL AND payout_reference IS NOT NULL)",
            name="paid",
        ),
        Index(None, "organization_id", "id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    status: Mapped[PayoutStatus] = mapped_column(
        _enum(PayoutStatus), nullable=False, server_default="open"
    )
    # What was asked for (the filters or the explicit post ids), kept to show it back.
    selection: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default="{}")
    payout_reference: Mapped[str | None] = mapped_column(Text)
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _created()
    paid_at: Mapped[datetime | None] = mapped_column(Timestamp)
    cancelled_at: Mapped[datetime | None] = mapped_column(Timestamp)


class PayoutLine(Base):
    """One post in a batch, with the amount and views fixed when the batch was made.
    `released` is set when the batch is cancelled: the partial unique index below then lets
    the post into another batch, and until then keeps it in at most one (a paid batch's
    lines stay unreleased, so a paid post is never batched again)."""

    __tablename__ = "payout_lines"
    __table_args__ = (
        UniqueConstraint("payout_id", "post_id"),
        Index(
            "payout_lines_open_post_id_key",
            "post_id",
            unique=True,
            postgresql_where=text("NOT released"),
        ),
        Index(None, "payout_id", "creator_id", "currency"),
        CheckConstraint("amount >= 0 AND locked_views >= 0", name="amounts"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = _org_fk()
    payout_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payouts.id", ondelete="CASCADE"), nullable=False
    )
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), nullable=False
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creators.id"), nullable=False)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    locked_views: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Earnings, nullable=False)
    released: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))


# Discord and imports


class DiscordIntegration(Base):
    """An organization's Discord application (one per organization). Interactions find their
    organization by `application_id`; `public_key` verifies their signatures. The bot token
    is a Fernet token (app.webhooks.vault), never the token itself. Posts created through the
    bot are recorded as the integration's own API key, made at connection and never shown,
    so their events name who added them."""

    __tablename__ = "discord_integrations"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    public_key: Mapped[str] = mapped_column(String(64), nullable=False)
    bot_token_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id"), nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )


class DiscordLink(Base):
    """A Discord user bound to a creator of the organization by the creator's access code."""

    __tablename__ = "discord_links"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "discord_user_id"),
        Index(None, "creator_id"),
    )

    organization_id: Mapped[uuid.UUID] = _org_fk()
    discord_user_id: Mapped[str] = mapped_column(String(32), nullable=False)
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), nullable=False
    )
    linked_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now()
    )


class PortalSession(Base):
    """A creator's portal sign-in. The cookie is signed and names this row: signing out
    deletes it, so the cookie stops working at once rather than when it expires."""

    __tablename__ = "portal_sessions"
    __table_args__ = (Index(None, "creator_id"),)

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("creators.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class PostImport(Base):
    """A bulk paste: its lines are handled by the worker in chunks. `lease_until` is the
    claim of the worker handling it; unfinished imports with a lapsed lease are taken again
    by the sweep, from their first unhandled line."""

    __tablename__ = "post_imports"
    __table_args__ = (
        Index(None, "organization_id", "id"),
        Index("post_imports_unfinished_idx", "id", postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    # Who uploaded it: the posts it adds are theirs (their events name this key).
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id"), nullable=False)
    total: Mapped[int] = mapped_column(Integer, nullable=False)
    done: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class PostImportLine(Base):
    __tablename__ = "post_import_lines"
    __table_args__ = (PrimaryKeyConstraint("import_id", "line"),)

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("post_imports.id", ondelete="CASCADE"), nullable=False
    )
    line: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based, as pasted
    url: Mapped[str] = mapped_column(Text, nullable=False)
    creator_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # NULL until handled: added, already_tracked, invalid_url, not_member, ... (the import's
    # outcome codes, app/services/post_imports.py).
    outcome: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    post_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None] = mapped_column(Timestamp)


# People


class User(Base):
    """A person of an organization who signs in (API keys are for machines). The email is
    stored lower-cased and is unique across organizations: it names whom a sign-in is for."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", OrgRole), name="role"),
        CheckConstraint(_in("status", UserStatus), name="status"),
        Index(None, "organization_id", "id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    role: Mapped[OrgRole] = mapped_column(_enum(OrgRole), nullable=False)
    status: Mapped[UserStatus] = mapped_column(
        _enum(UserStatus), nullable=False, server_default=UserStatus.INVITED.value
    )
    password_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        Timestamp, nullable=False, server_default=func.now(), onupdate=func.now()
    )
    last_sign_in_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # Two-factor (app.domain.two_factor): the TOTP secret, encrypted (it must be recovered to
    # check codes); enabled once a code confirmed it; the last time step a code was used for;
    # the unused recovery codes' digests.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    two_factor_enabled_at: Mapped[datetime | None] = mapped_column(Timestamp)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    recovery_code_hashes: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)))


class UserToken(Base):
    """A single-use link: an invitation or a password reset. Stored as a SHA-256 digest (256
    random bits); used once (`used_at`), dead after `expires_at` or when a newer one for the
    same user is issued."""

    __tablename__ = "user_tokens"
    __table_args__ = (
        CheckConstraint(_in("purpose", UserTokenPurpose), name="purpose"),
        Index(None, "user_id"),
    )

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    purpose: Mapped[UserTokenPurpose] = mapped_column(_enum(UserTokenPurpose), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(Timestamp)


class UserSession(Base):
    """A user's sign-in, on the server: the cookie holds a random token whose digest names
    this row. It ends when deleted (sign-out, sign-out everywhere, removal), when idle longer
    than SESSION_IDLE_MINUTES, or at `expires_at` (the absolute lifetime)."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index(None, "user_id"),)

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    client_address: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    # Signed in with a password only, where the organization requires a second factor the
    # user has not set up: the session may do nothing but set it up.
    two_factor_pending: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )


class CampaignRoleGrant(Base):
    """A user's role on one campaign (app.domain.permissions.CampaignRole)."""

    __tablename__ = "campaign_roles"
    __table_args__ = (
        PrimaryKeyConstraint("campaign_id", "user_id"),
        CheckConstraint("role IN ('campaign_admin', 'campaign_editor')", name="role"),
        Index(None, "user_id"),
    )

    organization_id: Mapped[uuid.UUID] = _org_fk()
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = _created()


class AuditEvent(Base):
    """Who did what to which resource, when, from where (app.domain.audit). Append-only."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "organization_id", "id"),)

    id: Mapped[uuid.UUID] = _pk()
    organization_id: Mapped[uuid.UUID] = _org_fk()
    occurred_at: Mapped[datetime] = _created()
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(32), nullable=False)
    resource_id: Mapped[str | None] = mapped_column(String(64))
    # The key (for a user: their own key row) and the user, when a user acted.
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    client_address: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
