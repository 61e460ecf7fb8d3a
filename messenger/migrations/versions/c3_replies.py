"""replies: index messages by (chat_id, reply_to) for reply threads

Revision ID: c3_replies
Revises: 0001_core
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3_replies"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("replies",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_chat_reply_to", "messages", ["chat_id", "reply_to"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_chat_reply_to", table_name="messages")
