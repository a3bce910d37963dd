"""YouTube Shorts, a third platform: `youtube` in the platform and stats-source checks, and
likes that may be unknown (YouTube leaves `likeCount` out when the channel hides likes:
unknown, not 0)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 10:15:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PLATFORMS = ("creators", "posts")


def _checks(platforms: str, sources: str) -> None:
    for table in _PLATFORMS:
        op.drop_constraint(op.f(f"{table}_platform_check"), table, type_="check")
        op.create_check_constraint(op.f(f"{table}_platform_check"), table, platforms)
    op.drop_constraint(op.f("stats_snapshots_source_check"), "stats_snapshots", type_="check")
    op.create_check_constraint(op.f("stats_snapshots_source_check"), "stats_snapshots", sources)


def upgrade() -> None:
    _checks(
        "platform IN ('tiktok', 'instagram', 'youtube')",
        "source IN ('primary', 'backup', 'instagram', 'youtube')",
    )
    op.alter_column("posts", "likes", nullable=True)
    op.alter_column("stats_snapshots", "likes", nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM stats_snapshots WHERE source = 'youtube'")
    op.execute("DELETE FROM posts WHERE platform = 'youtube'")
    op.execute("DELETE FROM creators WHERE platform = 'youtube'")
    op.execute("UPDATE stats_snapshots SET likes = 0 WHERE likes IS NULL")
    op.execute("UPDATE posts SET likes = 0 WHERE likes IS NULL")
    op.alter_column("stats_snapshots", "likes", nullable=False)
    op.alter_column("posts", "likes", nullable=False)
    _checks(
        "platform IN ('tiktok', 'instagram')",
        "source IN ('primary', 'backup', 'instagram')",
    )
