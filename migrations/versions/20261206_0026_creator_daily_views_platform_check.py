"""creator daily views' platform checked like posts' and creators': the analytics' platform
filter reads it, so a value no platform has would count for none of them

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 11:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "creator_daily_views_platform_check"


def upgrade() -> None:
    # The platforms posts accept at this point of the chain (a migration adding a platform
    # widens posts' and creators' checks, and must widen this one if it comes later).
    definition = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'posts_platform_check'"
        )
        .scalar_one()
    )
    op.execute(f"ALTER TABLE creator_daily_views ADD CONSTRAINT {NAME} {definition}")


def downgrade() -> None:
    op.drop_constraint(NAME, "creator_daily_views", type_="check")
