"""Users, sessions, single-use links, campaign roles, keys per campaign, the audit log

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 04:46:27.047529
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "member", name="orgrole", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "invited", "active", "removed", name="userstatus", native_enum=False, length=16
            ),
            server_default="invited",
            nullable=False,
        ),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'member')", name=op.f("users_role_check")),
        sa.CheckConstraint(
            "status IN ('invited', 'active', 'removed')", name=op.f("users_status_check")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("users_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("users_pkey")),
        sa.UniqueConstraint("email", name=op.f("users_email_key")),
    )
    op.create_index(
        op.f("users_organization_id_id_idx"), "users", ["organization_id", "id"], unique=False
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_address", sa.String(length=64), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("user_sessions_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("user_sessions_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("user_sessions_pkey")),
        sa.UniqueConstraint("token_hash", name=op.f("user_sessions_token_hash_key")),
    )
    op.create_index(op.f("user_sessions_user_id_idx"), "user_sessions", ["user_id"], unique=False)
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "purpose",
            sa.Enum(
                "invitation",
                "password_reset",
                name="usertokenpurpose",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('invitation', 'password_reset')", name=op.f("user_tokens_purpose_check")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("user_tokens_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("user_tokens_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("user_tokens_pkey")),
        sa.UniqueConstraint("token_hash", name=op.f("user_tokens_token_hash_key")),
    )
    op.create_index(op.f("user_tokens_user_id_idx"), "user_tokens", ["user_id"], unique=False)
    op.add_column("api_keys", sa.Column("user_id", sa.UUID(), nullable=True))
    op.create_unique_constraint(op.f("api_keys_user_id_key"), "api_keys", ["user_id"])
    op.create_foreign_key(
        op.f("api_keys_user_id_fkey"), "api_keys", "users", ["user_id"], ["id"], ondelete="CASCADE"
    )


    op.add_column("api_keys", sa.Column("campaign_ids", sa.ARRAY(sa.UUID()), nullable=True))
    op.create_table(
        "campaign_roles",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "role IN ('campaign_admin', 'campaign_editor')", name=op.f("campaign_roles_role_check")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("campaign_roles_campaign_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("campaign_roles_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("campaign_roles_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("campaign_id", "user_id", name=op.f("campaign_roles_pkey")),
    )
    op.create_index(
        op.f("campaign_roles_user_id_idx"), "campaign_roles", ["user_id"], unique=False
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("actor_key_id", sa.UUID(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("client_address", sa.String(length=64), server_default="", nullable=False),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("audit_events_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("audit_events_pkey")),
    )
    op.create_index(
        op.f("audit_events_organization_id_id_idx"),
        "audit_events",
        ["organization_id", "id"],
        unique=False,
    )

    op.add_column("users", sa.Column("totp_secret", sa.Text(), nullable=True))
    op.add_column(
        "users", sa.Column("two_factor_enabled_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column(
        "users",
        sa.Column("recovery_code_hashes", sa.ARRAY(sa.String(length=64)), nullable=True),
    )
    op.add_column(
        "user_sessions",
        sa.Column(
            "two_factor_pending", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column(
        "organizations",
        sa.Column("require_two_factor", sa.String(length=16), server_default="off", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("organizations", "require_two_factor")
    op.drop_index(op.f("audit_events_organization_id_id_idx"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index(op.f("campaign_roles_user_id_idx"), table_name="campaign_roles")
    op.drop_table("campaign_roles")
    op.drop_column("api_keys", "campaign_ids")
    op.drop_constraint(op.f("api_keys_user_id_fkey"), "api_keys", type_="foreignkey")
    op.drop_constraint(op.f("api_keys_user_id_key"), "api_keys", type_="unique")
    op.drop_column("api_keys", "user_id")
    op.drop_index(op.f("user_tokens_user_id_idx"), table_name="user_tokens")
    op.drop_table("user_tokens")
    op.drop_index(op.f("user_sessions_user_id_idx"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index(op.f("users_organization_id_id_idx"), table_name="users")
    op.drop_table("users")
