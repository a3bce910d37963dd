"""An index for the webhook sweep's claim: each organization's due deliveries, oldest first

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "webhook_deliveries_org_due_idx",
        "webhook_deliveries",
        ["organization_id", "next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "webhook_deliveries_org_due_idx",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
