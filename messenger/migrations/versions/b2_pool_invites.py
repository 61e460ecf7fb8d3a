"""pool invitations: a family/business pool includes a user only after they accept

Revision ID: b2_pool_invites
Revises: b1_calls_meetings
Create Date: 2026-11-27 19:11:04.127168
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2_pool_invites"
down_revision: str | Sequence[str] | None = "b1_calls_meetings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_invites",
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_subscription_invites_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "user_id", name=op.f("pk_subscription_invites")),
    )
    with op.batch_alter_table("subscription_invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscription_invites_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscription_invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscription_invites_user_id"))
    op.drop_table("subscription_invites")
