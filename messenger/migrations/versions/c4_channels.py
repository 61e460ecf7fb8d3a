"""channels: channels, their owners/subscribers and posts with fan-out progress

Revision ID: c4_channels
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4_channels"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("channels",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("subscribers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    op.create_table(
        "channel_members",
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.Column("last_read_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_channel_members_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", "user_id", name=op.f("pk_channel_members")),
    )
    op.create_index("ix_channel_members_user", "channel_members", ["user_id"], unique=False)
    op.create_index(
        "ix_channel_members_read", "channel_members", ["channel_id", "last_read_seq"], unique=False
    )
    op.create_table(
        "channel_posts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("fanout_after", sa.String(length=64), nullable=False),
        sa.Column("fanout_done", sa.Boolean(), nullable=False),
        sa.Column("fanout_done_at", sa.Float(), nullable=True),
        sa.Column("delivered_members", sa.Integer(), nullable=False),
        sa.Column("delivered_devices", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_channel_posts_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_posts")),
        sa.UniqueConstraint("channel_id", "seq", name="uq_channel_posts_channel_seq"),
    )
    op.create_index("ix_channel_posts_pending", "channel_posts", ["fanout_done"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_channel_posts_pending", table_name="channel_posts")
    op.drop_table("channel_posts")
    op.drop_index("ix_channel_members_read", table_name="channel_members")
    op.drop_index("ix_channel_members_user", table_name="channel_members")
    op.drop_table("channel_members")
    op.drop_table("channels")
