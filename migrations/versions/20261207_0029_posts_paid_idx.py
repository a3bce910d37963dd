"""The month's paid posts, read from an index: an organization's paid posts by when they were
paid, with the columns the payments page's "paid this month" sums (app/repositories/payouts.py
`pulse`). Through the (organization, status) index it read every paid post of the
organization and its row, then kept the month's: 9-12 ms and 10,000 buffers a page at 6,000
paid posts, 0.8 ms with this one. Partial: a post's stats writes never touch it.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "posts_paid_idx",
        "posts",
        ["organization_id", "paid_at"],
        unique=False,
        postgresql_include=["campaign_id", "earnings"],
        postgresql_where=sa.text("status = 'paid'"),
    )


def downgrade() -> None:
    op.drop_index("posts_paid_idx", table_name="posts")
