"""campaign daily views: the analytics' daily series as a rollup kept by the writer

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the writer would have added had the rollup always existed: each snapshot's views
# minus its post's previous snapshot (a post's first counts from 0, as a new post does).
BACKFILL = """
INSERT INTO campaign_daily_views (campaign_id, day, views_gained)
SELECT campaign_id, day, sum(gained)
FROM (
    SELECT campaign_id, (captured_at AT TIME ZONE 'UTC')::date AS day,
           views - coalesce(lag(views) OVER (PARTITION BY post_id ORDER BY captured_at, id), 0)
               AS gained
    FROM stats_snapshots
) AS s
GROUP BY campaign_id, day
"""


def upgrade() -> None:
    op.create_table(
        'campaign_daily_views',
        sa.Column('campaign_id', sa.UUID(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('views_gained', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('campaign_daily_views_campaign_id_fkey'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', 'day', name=op.f('campaign_daily_views_pkey')),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table('campaign_daily_views')
