"""creator daily views: the daily rollup per campaign, creator and day, so the analytics'
daily series honours the creator and platform filters as every other figure does

`campaign_daily_views` is per campaign and day: a report filtered to one creator or one
platform could not narrow its daily chart. This finer rollup is kept by the same statement
of the stats writer; the unfiltered series still reads the campaign rollup (fewer rows), and
the two agree (the campaign's day is the sum of its creators').

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the writer would have added had the rollup always existed: each applied snapshot's
# views minus its post's applied snapshot before it, the first one counting from 0 and
# reported as the day's baseline (as the writer adds a post's first count).
BACKFILL = """
INSERT INTO creator_daily_views (campaign_id, creator_id, day, platform, views_gained,
                                 baseline_views)
SELECT s.campaign_id, p.creator_id, s.day, p.platform, sum(s.gained),
       sum(CASE WHEN s.first THEN s.gained ELSE 0 END)
FROM (
    SELECT post_id, campaign_id, (captured_at AT TIME ZONE 'UTC')::date AS day,
           views - coalesce(lag(views) OVER w, 0) AS gained,
           lag(views) OVER w IS NULL AS first
    FROM stats_snapshots
    WHERE applied
    WINDOW w AS (PARTITION BY post_id ORDER BY captured_at, id)
) AS s
JOIN posts p ON p.id = s.post_id
GROUP BY s.campaign_id, p.creator_id, s.day, p.platform
"""


def upgrade() -> None:
    op.create_table(
        "creator_daily_views",
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("creator_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("views_gained", sa.Numeric(38, 0), nullable=False),
        sa.Column("baseline_views", sa.Numeric(38, 0), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("creator_daily_views_campaign_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["creators.id"],
            name=op.f("creator_daily_views_creator_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "creator_id", "day", name=op.f("creator_daily_views_pkey")
        ),
    )
    # One creator's days across campaigns (the creator filter over an organization).
    op.create_index(
        "creator_daily_views_creator_id_day_idx", "creator_daily_views", ["creator_id", "day"]
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("creator_daily_views")
