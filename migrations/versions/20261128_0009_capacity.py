"""capacity: the claim's active and settled branches each read their own partial index of
due posts, per organization (organization_id, platform, next_refresh_at), so a claim under
overload reads only what it takes, in turns across organizations

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "posts_active_due_idx",
        "posts",
        ["organization_id", "platform", "next_refresh_at"],
        postgresql_where=sa.text(
            "status IN ('held', 'pending_cpm', 'tracking') AND next_refresh_at IS NOT NULL"
        ),
    )
    op.create_index(
        "posts_settled_due_idx",
        "posts",
        ["organization_id", "platform", "next_refresh_at"],
        postgresql_where=sa.text("status IN ('finalized', 'paid') AND next_refresh_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("posts_settled_due_idx", table_name="posts")
    op.drop_index("posts_active_due_idx", table_name="posts")
