"""channels: devices served by the online-first pass of a post's fan-out

Revision ID: c7_channel_early
Revises: c5_search
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7_channel_early"
down_revision: str | Sequence[str] | None = "c5_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_post_early",
        sa.Column("post_id", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["channel_posts.id"],
            name=op.f("fk_channel_post_early_post_id_channel_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "device_id", name=op.f("pk_channel_post_early")),
    )


def downgrade() -> None:
    op.drop_table("channel_post_early")
