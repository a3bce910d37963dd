"""contract: change-feed indexes, compact refresh-run scopes, skipped_recent, daily baselines

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The change feed: keyset on (updated_at, id) within an organization or a campaign.
    op.create_index('posts_organization_id_updated_at_id_idx', 'posts',
                    ['organization_id', 'updated_at', 'id'])
    op.create_index('posts_campaign_id_updated_at_id_idx', 'posts',
                    ['campaign_id', 'updated_at', 'id'])

    # A run's scope is kept compactly: post ids as a count and a digest, not the ids.
    op.add_column('refresh_runs', sa.Column('post_ids_count', sa.Integer(), nullable=True))
    op.add_column('refresh_runs', sa.Column('post_ids_digest', sa.String(64), nullable=True))
    op.add_column('refresh_runs', sa.Column('skipped_recent', sa.Integer(),
                                            server_default='0', nullable=False))
    op.execute(
        """
        UPDATE refresh_runs SET
            post_ids_count = jsonb_array_length(scope->'post_ids'),
            post_ids_digest = encode(sha256(convert_to(scope->>'post_ids', 'UTF8')), 'hex'),
            scope = scope - 'post_ids'
        WHERE scope ? 'post_ids'
        """
    )
    # An empty run was stamped started and finished at the request's clock, which can be
    # before the row's created_at (the transaction's clock): put them in order.
    op.execute(
        """
        UPDATE refresh_runs SET started_at = greatest(started_at, created_at),
                                finished_at = greatest(finished_at, started_at, created_at)
        WHERE started_at < created_at OR finished_at < started_at OR finished_at < created_at
        """
    )
    # The open-run limit and the retention sweep.
    op.create_index('refresh_runs_open_idx', 'refresh_runs', ['organization_id'],
                    postgresql_where=sa.text('finished_at IS NULL'))
    op.create_index('refresh_runs_created_at_idx', 'refresh_runs', ['created_at'])

    # Views a post had at its first fetch, per campaign and day: part of views_gained as the
    # writer adds it, reported apart as a baseline. Backfilled from the first snapshots.
    op.add_column('campaign_daily_views', sa.Column('baseline_views', sa.BigInteger(),
                                                    server_default='0', nullable=False))
    op.execute(
        """
        UPDATE campaign_daily_views d SET baseline_views = f.views
        FROM (
            SELECT campaign_id, (captured_at AT TIME ZONE 'UTC')::date AS day, sum(views) AS views
            FROM (
                SELECT DISTINCT ON (post_id) campaign_id, captured_at, views
                FROM stats_snapshots ORDER BY post_id, captured_at
            ) firsts
            GROUP BY 1, 2
        ) f
        WHERE d.campaign_id = f.campaign_id AND d.day = f.day
        """
    )


def downgrade() -> None:
    op.drop_column('campaign_daily_views', 'baseline_views')
    op.drop_index('refresh_runs_created_at_idx', table_name='refresh_runs')
    op.drop_index('refresh_runs_open_idx', table_name='refresh_runs')
    op.drop_column('refresh_runs', 'skipped_recent')
    op.drop_column('refresh_runs', 'post_ids_digest')
    op.drop_column('refresh_runs', 'post_ids_count')
    op.drop_index('posts_campaign_id_updated_at_id_idx', table_name='posts')
    op.drop_index('posts_organization_id_updated_at_id_idx', table_name='posts')
