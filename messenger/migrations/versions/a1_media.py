"""media: content-addressed sealed objects, uploads, shares

Revision ID: a1_media
Revises: 0001_core
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1_media"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("media",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_objects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("waveform", sa.Text(), nullable=True),
        sa.Column("preview_id", sa.String(length=64), nullable=True),
        sa.Column("thumb_size", sa.Integer(), nullable=True),
        sa.Column("thumb_width", sa.Integer(), nullable=True),
        sa.Column("thumb_height", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_objects")),
    )
    op.create_table(
        "media_uploads",
        sa.Column("media_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("uploaded_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_objects.id"],
            name=op.f("fk_media_uploads_media_id_media_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_id", "user_id", name=op.f("pk_media_uploads")),
    )
    op.create_index("ix_media_uploads_user", "media_uploads", ["user_id"])
    op.create_table(
        "media_shares",
        sa.Column("media_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=40), nullable=False),
        sa.Column("shared_by", sa.String(length=64), nullable=False),
        sa.Column("shared_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media_objects.id"],
            name=op.f("fk_media_shares_media_id_media_objects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["chat_id"], ["chats.id"], name=op.f("fk_media_shares_chat_id_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("media_id", "chat_id", name=op.f("pk_media_shares")),
    )
    op.create_index("ix_media_shares_chat", "media_shares", ["chat_id", "shared_at"])


def downgrade() -> None:
    op.drop_index("ix_media_shares_chat", table_name="media_shares")
    op.drop_table("media_shares")
    op.drop_index("ix_media_uploads_user", table_name="media_uploads")
    op.drop_table("media_uploads")
    op.drop_table("media_objects")
