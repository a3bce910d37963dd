"""Portal sessions on the server: signing out ends the session, not only the cookie

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 04:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("creator_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("portal_sessions_creator_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("portal_sessions_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("portal_sessions_pkey")),
    )
    op.create_index(
        op.f("portal_sessions_creator_id_idx"), "portal_sessions", ["creator_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("portal_sessions_creator_id_idx"), table_name="portal_sessions")
    op.drop_table("portal_sessions")
