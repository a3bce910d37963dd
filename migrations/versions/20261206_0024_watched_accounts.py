"""Watched accounts (issue 29): a creator's account watched for a campaign, and where each
post came from (`source`, and the watch that found it)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watched_accounts",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("organization_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("creator_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("initial_import", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "include_hashtags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "exclude_hashtags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("initial_done", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("seen_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("videos_seen", sa.Integer(), server_default="0", nullable=False),
        sa.Column("videos_added", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "skipped", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "initial_import IN (0, 5, 10, 15, 30)", name=op.f("watched_accounts_initial_import_check")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("watched_accounts_campaign_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("watched_accounts_creator_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("watched_accounts_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("watched_accounts_pkey")),
        sa.UniqueConstraint(
            "campaign_id", "creator_id", name=op.f("watched_accounts_campaign_id_creator_id_key")
        ),
    )
    op.create_index(
        op.f("watched_accounts_campaign_id_id_idx"),
        "watched_accounts",
        ["campaign_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("watched_accounts_creator_id_idx"), "watched_accounts", ["creator_id"], unique=False
    )
    op.create_index(
        "watched_accounts_due_idx",
        "watched_accounts",
        ["platform", "next_check_at"],
        unique=False,
        postgresql_where=sa.text("enabled AND next_check_at IS NOT NULL"),
    )
    op.add_column(
        "posts",
        sa.Column("source", sa.String(length=16), server_default="submitted", nullable=False),
    )
    op.add_column(
        "posts", sa.Column("watched_account_id", postgresql.UUID(as_uuid=True), nullable=True)
    )
    op.create_foreign_key(
        op.f("posts_watched_account_id_fkey"),
        "posts",
        "watched_accounts",
        ["watched_account_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("posts_watched_account_id_fkey"), "posts", type_="foreignkey")
    op.drop_column("posts", "watched_account_id")
    op.drop_column("posts", "source")
    op.drop_index(
        "watched_accounts_due_idx",
        table_name="watched_accounts",
        postgresql_where=sa.text("enabled AND next_check_at IS NOT NULL"),
    )
    op.drop_index(op.f("watched_accounts_creator_id_idx"), table_name="watched_accounts")
    op.drop_index(op.f("watched_accounts_campaign_id_id_idx"), table_name="watched_accounts")
    op.drop_table("watched_accounts")
