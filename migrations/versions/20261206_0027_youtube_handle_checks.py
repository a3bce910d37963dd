"""YouTube creators' handles follow renames: when each channel's @handle was last asked of
channels.list (the daily handle check, app/workers/handles.py), and an index for the check's
claim of the channels that are due

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 13:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "creators", sa.Column("handle_checked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "creators_youtube_handle_check_idx",
        "creators",
        ["handle_checked_at"],
        unique=False,
        postgresql_where=sa.text("platform = 'youtube' AND platform_user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("creators_youtube_handle_check_idx", table_name="creators")
    op.drop_column("creators", "handle_checked_at")
