"""holds, creator renames, fetch outcomes, wider earnings, one video tracked once per organization

Stored platform ids are made canonical (TikTok without leading zeros, Instagram shortcodes
without leading 'A'). Where that reveals the same video twice in an organization, every copy
is kept: the first added stays the original, each later one points at it (duplicate_of) and
gets a duplicate_video hold, so none is paid before a person looks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Canonical ids, the duplicates they reveal (each later copy points at the first added), and
# a duplicate_video hold with its event on each later copy. Kept as data so a test can run
# them over posts written the old way.
CANONICALIZE = (
    """
    UPDATE posts SET platform_post_id = CASE platform
        WHEN 'tiktok' THEN coalesce(nullif(ltrim(platform_post_id, '0'), ''), '0')
        ELSE coalesce(nullif(ltrim(platform_post_id, 'A'), ''), 'A') END
    """,
    """
    UPDATE posts p SET duplicate_of = d.original, open_holds = p.open_holds + 1
    FROM (
        SELECT id, first_value(id) OVER (
            PARTITION BY organization_id, platform, platform_post_id
            ORDER BY created_at, id) AS original
        FROM posts
    ) d
    WHERE p.id = d.id AND d.original <> d.id AND p.duplicate_of IS NULL
    """,
    """
    INSERT INTO post_holds (organization_id, post_id, code, reason, evidence)
    SELECT p.organization_id, p.id, 'duplicate_video',
           'The organization tracks this video twice; the first post added is '
           || p.duplicate_of || ' (campaign ' || o.campaign_id || ').',
           jsonb_build_object('original_post_id', p.duplicate_of,
                              'original_campaign_id', o.campaign_id)
    FROM posts p JOIN posts o ON o.id = p.duplicate_of
    WHERE p.duplicate_of IS NOT NULL
    ON CONFLICT (post_id, code) DO NOTHING
    """,
    """
    INSERT INTO post_events (organization_id, post_id, from_status, to_status, code, reason)
    SELECT h.organization_id, h.post_id, p.status, p.status, 'hold_raised',
           'duplicate_video: ' || h.reason
    FROM post_holds h JOIN posts p ON p.id = h.post_id
    WHERE h.code = 'duplicate_video' AND p.duplicate_of IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM post_events e
                      WHERE e.post_id = h.post_id AND e.code = 'hold_raised')
    """,
)


def upgrade() -> None:
    op.drop_constraint(op.f('posts_status_check'), 'posts', type_='check')
    op.create_check_constraint(
        op.f('posts_status_check'),
        'posts',
        "status IN ('tracking', 'held', 'pending_cpm', 'finalized', 'paid', 'rejected')",
    )
    op.alter_column('posts', 'earnings', type_=sa.Numeric(28, 2), existing_nullable=True)
    op.add_column('posts', sa.Column('open_holds', sa.Integer(), server_default='0', nullable=False))
    op.create_check_constraint(op.f('posts_open_holds_check'), 'posts', 'open_holds >= 0')
    op.add_column('posts', sa.Column('last_fetch_outcome', sa.Text(), nullable=True))
    op.add_column('posts', sa.Column('last_fetch_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('posts', sa.Column('duplicate_of', sa.UUID(), nullable=True))

    op.create_table(
        'post_holds',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('organization_id', sa.UUID(), nullable=False),
        sa.Column('post_id', sa.UUID(), nullable=False),
        sa.Column('code', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('evidence', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('raised_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cleared_by_key_id', sa.UUID(), nullable=True),
        sa.Column('clear_reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('post_holds_organization_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('post_holds_post_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['cleared_by_key_id'], ['api_keys.id'], name=op.f('post_holds_cleared_by_key_id_fkey'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('post_holds_pkey')),
        sa.UniqueConstraint('post_id', 'code', name=op.f('post_holds_post_id_code_key')),
    )
    op.create_index('post_holds_open_code_idx', 'post_holds', ['organization_id', 'code', 'post_id'], unique=False, postgresql_where=sa.text('cleared_at IS NULL'))

    op.create_table(
        'creator_renames',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('organization_id', sa.UUID(), nullable=False),
        sa.Column('creator_id', sa.UUID(), nullable=False),
        sa.Column('old_handle', sa.Text(), nullable=False),
        sa.Column('new_handle', sa.Text(), nullable=False),
        sa.Column('post_id', sa.UUID(), nullable=True),
        sa.Column('renamed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('creator_renames_organization_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('creator_renames_creator_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('creator_renames_post_id_fkey'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('creator_renames_pkey')),
    )
    op.create_index(op.f('creator_renames_creator_id_id_idx'), 'creator_renames', ['creator_id', 'id'], unique=False)

    # Canonical ids (once the per-campaign key is gone: it would refuse two spellings of one
    # video in a campaign becoming one), then the duplicates they reveal.
    op.drop_constraint(op.f('posts_campaign_id_platform_platform_post_id_key'), 'posts', type_='unique')
    for statement in CANONICALIZE:
        op.execute(statement)
    op.create_index(
        'posts_organization_id_platform_platform_post_id_key',
        'posts',
        ['organization_id', 'platform', 'platform_post_id'],
        unique=True,
        postgresql_where=sa.text('duplicate_of IS NULL'),
    )


def downgrade() -> None:
    op.drop_index('posts_organization_id_platform_platform_post_id_key', table_name='posts')
    op.create_unique_constraint(op.f('posts_campaign_id_platform_platform_post_id_key'), 'posts', ['campaign_id', 'platform', 'platform_post_id'])
    op.drop_index(op.f('creator_renames_creator_id_id_idx'), table_name='creator_renames')
    op.drop_table('creator_renames')
    op.drop_index('post_holds_open_code_idx', table_name='post_holds')
    op.drop_table('post_holds')
    op.drop_column('posts', 'duplicate_of')
    op.drop_column('posts', 'last_fetch_at')
    op.drop_column('posts', 'last_fetch_outcome')
    op.drop_constraint(op.f('posts_open_holds_check'), 'posts', type_='check')
    op.drop_column('posts', 'open_holds')
    op.alter_column('posts', 'earnings', type_=sa.Numeric(12, 2), existing_nullable=True)
    op.execute("UPDATE posts SET status = 'tracking' WHERE status = 'held'")
    op.drop_constraint(op.f('posts_status_check'), 'posts', type_='check')
    op.create_check_constraint(
        op.f('posts_status_check'),
        'posts',
        "status IN ('tracking', 'pending_cpm', 'finalized', 'paid', 'rejected')",
    )
