"""Provenance of snapshots, raw answers, decision evidence, integrity flags

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 01:04:35.679812
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "post_flags",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "evidence", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_key_id", sa.UUID(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("post_flags_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("post_flags_post_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_key_id"],
            ["api_keys.id"],
            name=op.f("post_flags_resolved_by_key_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("post_flags_pkey")),
        sa.UniqueConstraint("post_id", "code", name=op.f("post_flags_post_id_code_key")),
    )
    op.create_table(
        "raw_answers",
        sa.Column("snapshot_id", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["stats_snapshots.id"],
            name=op.f("raw_answers_snapshot_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("snapshot_id", name=op.f("raw_answers_pkey")),
    )
    op.create_index(
        "raw_answers_prunable_idx",
        "raw_answers",
        ["captured_at"],
        unique=False,
        postgresql_where=sa.text("NOT kept"),
    )
    op.add_column(
        "campaigns",
        sa.Column(
            "hold_on_flags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
    )
    op.add_column(
        "post_events", sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "posts", sa.Column("locked_observed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("posts", sa.Column("locked_snapshot_id", sa.BigInteger(), nullable=True))
    op.add_column("posts", sa.Column("unconfirmed_views", sa.BigInteger(), nullable=True))
    op.add_column(
        "posts",
        sa.Column("flags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
    )
    op.add_column("stats_snapshots", sa.Column("views_field", sa.Text(), nullable=True))
    op.add_column(
        "stats_snapshots", sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "stats_snapshots", sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("stats_snapshots", sa.Column("raw_sha256", sa.String(length=64), nullable=True))
    op.add_column(
        "stats_snapshots", sa.Column("applied", sa.Boolean(), server_default="true", nullable=False)
    )
    # Posts decided before this revision: when their locked views were seen is the latest
    # snapshot up to the decision that shows exactly that count (the closest the data says).
    op.execute(
        """
        UPDATE posts p SET (locked_observed_at, locked_snapshot_id) = (
            SELECT captured_at, id FROM stats_snapshots
            WHERE post_id = p.id AND views = p.locked_views
              AND captured_at <= coalesce(p.finalized_at, p.updated_at)
            ORDER BY captured_at DESC LIMIT 1
        )
        WHERE p.locked_views IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("stats_snapshots", "applied")
    op.drop_column("stats_snapshots", "raw_sha256")
    op.drop_column("stats_snapshots", "answered_at")
    op.drop_column("stats_snapshots", "requested_at")
    op.drop_column("stats_snapshots", "views_field")
    op.drop_column("posts", "flags")
    op.drop_column("posts", "unconfirmed_views")
    op.drop_column("posts", "locked_snapshot_id")
    op.drop_column("posts", "locked_observed_at")
    op.drop_column("post_events", "evidence")
    op.drop_column("campaigns", "hold_on_flags")
    op.drop_index(
        "raw_answers_prunable_idx", table_name="raw_answers", postgresql_where=sa.text("NOT kept")
    )
    op.drop_table("raw_answers")
    op.drop_table("post_flags")
