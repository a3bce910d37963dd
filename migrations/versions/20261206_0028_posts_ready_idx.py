"""What is ready to pay, read from an index: an organization's finalized posts without an
open hold, in creator order, with the columns the ready lines and the payments page's totals
sum (app/repositories/payouts.py)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 20:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "posts_ready_idx",
        "posts",
        ["organization_id", "creator_id"],
        unique=False,
        postgresql_include=["id", "campaign_id", "locked_views", "earnings"],
        postgresql_where=sa.text("status = 'finalized' AND open_holds = 0"),
    )


def downgrade() -> None:
    op.drop_index("posts_ready_idx", table_name="posts")
