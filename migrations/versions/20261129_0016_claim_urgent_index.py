"""An index for the claim's deadline branch: tracking posts by organization, platform, age

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 02:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "posts_tracking_urgent_idx",
        "posts",
        ["organization_id", "platform", "aged_from"],
        unique=False,
        postgresql_where=sa.text("status = 'tracking' AND next_refresh_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "posts_tracking_urgent_idx",
        table_name="posts",
        postgresql_where=sa.text("status = 'tracking' AND next_refresh_at IS NOT NULL"),
    )
