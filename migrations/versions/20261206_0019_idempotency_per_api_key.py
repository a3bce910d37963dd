"""idempotency keys per API key: a stored answer is replayed only to the key that made it

Keys stored before this revision belong to no API key: they are dropped (a retry of such a
request within its 24 h runs again, as after the key's expiry).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    op.drop_constraint("idempotency_keys_pkey", "idempotency_keys", type_="primary")
    op.add_column("idempotency_keys", sa.Column("api_key_id", sa.Uuid(), nullable=False))
    op.create_foreign_key(
        op.f("idempotency_keys_api_key_id_fkey"),
        "idempotency_keys",
        "api_keys",
        ["api_key_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_primary_key(
        op.f("idempotency_keys_pkey"), "idempotency_keys", ["organization_id", "api_key_id", "key"]
    )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    op.drop_constraint("idempotency_keys_pkey", "idempotency_keys", type_="primary")
    op.drop_constraint(
        op.f("idempotency_keys_api_key_id_fkey"), "idempotency_keys", type_="foreignkey"
    )
    op.drop_column("idempotency_keys", "api_key_id")
    op.create_primary_key(
        op.f("idempotency_keys_pkey"), "idempotency_keys", ["organization_id", "key"]
    )
