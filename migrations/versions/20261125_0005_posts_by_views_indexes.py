"""posts by views: the index behind sort=views and the analytics' top posts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:35:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f('posts_organization_id_views_id_idx'), 'posts', ['organization_id', 'views', 'id'], unique=False)
    op.create_index(op.f('posts_campaign_id_views_id_idx'), 'posts', ['campaign_id', 'views', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('posts_campaign_id_views_id_idx'), table_name='posts')
    op.drop_index(op.f('posts_organization_id_views_id_idx'), table_name='posts')
