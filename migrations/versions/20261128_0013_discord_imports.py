"""Discord integrations and links; bulk post imports and their lines

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discord_integrations",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("bot_token_encrypted", sa.Text(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("discord_integrations_api_key_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("discord_integrations_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("discord_integrations_pkey")),
        sa.UniqueConstraint("application_id", name=op.f("discord_integrations_application_id_key")),
    )
    op.create_table(
        "discord_links",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("discord_user_id", sa.String(length=32), nullable=False),
        sa.Column("creator_id", sa.UUID(), nullable=False),
        sa.Column(
            "linked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("discord_links_creator_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("discord_links_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "discord_user_id", name=op.f("discord_links_pkey")
        ),
    )
    op.create_index(
        op.f("discord_links_creator_id_idx"), "discord_links", ["creator_id"], unique=False
    )
    op.create_table(
        "post_imports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("api_key_id", sa.UUID(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("post_imports_api_key_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("post_imports_campaign_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("post_imports_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("post_imports_pkey")),
    )
    op.create_index(
        op.f("post_imports_organization_id_id_idx"),
        "post_imports",
        ["organization_id", "id"],
        unique=False,
    )
    op.create_index(
        "post_imports_unfinished_idx",
        "post_imports",
        ["id"],
        unique=False,
        postgresql_where=sa.text("finished_at IS NULL"),
    )
    op.create_table(
        "post_import_lines",
        sa.Column("import_id", sa.UUID(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("creator_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("post_id", sa.UUID(), nullable=True),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["post_imports.id"],
            name=op.f("post_import_lines_import_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("post_import_lines_post_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("post_import_lines_pkey")),
    )


def downgrade() -> None:
    op.drop_table("post_import_lines")
    op.drop_index(
        "post_imports_unfinished_idx",
        table_name="post_imports",
        postgresql_where=sa.text("finished_at IS NULL"),
    )
    op.drop_index(op.f("post_imports_organization_id_id_idx"), table_name="post_imports")
    op.drop_table("post_imports")
    op.drop_index(op.f("discord_links_creator_id_idx"), table_name="discord_links")
    op.drop_table("discord_links")
    op.drop_table("discord_integrations")
