"""campaign daily views as NUMERIC(38,0): a day's sum of bigint view counts overflows a bigint

Two posts of one campaign each reporting a bigint-sized count (a platform's own maximum) on
the same day made the writer's INSERT ... ON CONFLICT fail with "bigint out of range", and with
it the whole batch's write. 38 digits hold the sum of any number of posts a database can keep.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("views_gained", "baseline_views")
# Going back clamps to the bigint range: a sum past it cannot be kept there.
CLAMP = "least(greatest({c}, -9223372036854775808), 9223372036854775807)"


def upgrade() -> None:
    for column in COLUMNS:
        op.alter_column(
            "campaign_daily_views",
            column,
            type_=sa.Numeric(38, 0),
            existing_type=sa.BigInteger(),
            existing_nullable=False,
        )


def downgrade() -> None:
    for column in COLUMNS:
        op.alter_column(
            "campaign_daily_views",
            column,
            type_=sa.BigInteger(),
            existing_type=sa.Numeric(38, 0),
            existing_nullable=False,
            postgresql_using=CLAMP.format(c=column),
        )
