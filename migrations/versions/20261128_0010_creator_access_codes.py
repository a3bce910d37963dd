"""creators' access codes (hashed): the creator portal and Discord linking

Creators added before this have no code until an admin issues one
(POST /v1/creators/{id}/access-code).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('creators', sa.Column('access_code_hash', sa.String(length=64), nullable=True))
    op.create_unique_constraint(op.f('creators_access_code_hash_key'), 'creators', ['access_code_hash'])


def downgrade() -> None:
    op.drop_constraint(op.f('creators_access_code_hash_key'), 'creators', type_='unique')
    op.drop_column('creators', 'access_code_hash')
