"""payout batches and their lines: a post in at most one open (or paid) batch

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'payouts',
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('organization_id', sa.UUID(), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('selection', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('payout_reference', sa.Text(), nullable=True),
        sa.Column('created_by_key_id', sa.UUID(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'paid', 'cancelled')", name=op.f('payouts_status_check')),
        sa.CheckConstraint(
            "status <> 'paid' OR (paid_at IS NOT NULL AND payout_reference IS NOT NULL)",
            name=op.f('payouts_paid_check'),
        ),
        sa.ForeignKeyConstraint(['created_by_key_id'], ['api_keys.id'], name=op.f('payouts_created_by_key_id_fkey'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('payouts_organization_id_fkey'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('payouts_pkey')),
    )
    op.create_index(op.f('payouts_organization_id_id_idx'), 'payouts', ['organization_id', 'id'], unique=False)
    op.create_table(
        'payout_lines',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('organization_id', sa.UUID(), nullable=False),
        sa.Column('payout_id', sa.UUID(), nullable=False),
        sa.Column('post_id', sa.UUID(), nullable=False),
        sa.Column('creator_id', sa.UUID(), nullable=False),
        sa.Column('campaign_id', sa.UUID(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('locked_views', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=28, scale=2), nullable=False),
        sa.Column('released', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.CheckConstraint('amount >= 0 AND locked_views >= 0', name=op.f('payout_lines_amounts_check')),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('payout_lines_campaign_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('payout_lines_creator_id_fkey')),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('payout_lines_organization_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['payout_id'], ['payouts.id'], name=op.f('payout_lines_payout_id_fkey'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('payout_lines_post_id_fkey'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('payout_lines_pkey')),
        sa.UniqueConstraint('payout_id', 'post_id', name=op.f('payout_lines_payout_id_post_id_key')),
    )
    op.create_index('payout_lines_open_post_id_key', 'payout_lines', ['post_id'], unique=True, postgresql_where=sa.text('NOT released'))
    op.create_index(op.f('payout_lines_payout_id_creator_id_currency_idx'), 'payout_lines', ['payout_id', 'creator_id', 'currency'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('payout_lines_payout_id_creator_id_currency_idx'), table_name='payout_lines')
    op.drop_index('payout_lines_open_post_id_key', table_name='payout_lines', postgresql_where=sa.text('NOT released'))
    op.drop_table('payout_lines')
    op.drop_index(op.f('payouts_organization_id_id_idx'), table_name='payouts')
    op.drop_table('payouts')
