"""webhook event retention: an index on webhook_events.created_at for the hourly prune

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 01:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f('webhook_events_created_at_idx'), 'webhook_events', ['created_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f('webhook_events_created_at_idx'), table_name='webhook_events')
