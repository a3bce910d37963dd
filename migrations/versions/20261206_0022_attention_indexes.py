"""Indexes for what waits for a person (the dashboard's Needs attention): each
organization's open holds and open flags oldest first, and its posts with a fetch error

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("post_holds_open_idx", "post_holds", ["organization_id", "id"], "cleared_at IS NULL"),
    ("post_flags_open_idx", "post_flags", ["organization_id", "id"], "resolved_at IS NULL"),
    ("posts_fetch_error_idx", "posts", ["organization_id", "id"], "last_error_code IS NOT NULL"),
)


def upgrade() -> None:
    for name, table, columns, where in _INDEXES:
        op.create_index(name, table, columns, unique=False, postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, table, _, where in _INDEXES:
        op.drop_index(name, table_name=table, postgresql_where=sa.text(where))
