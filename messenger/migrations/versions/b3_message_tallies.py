"""message tallies: counts of billed messages whose rows were deleted (messenger.billing.tally)

Revision ID: b3_message_tallies
Revises: b2_pool_invites
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3_message_tallies"
down_revision: str | Sequence[str] | None = "b2_pool_invites"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_tallies",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "period", name=op.f("pk_message_tallies")),
    )


def downgrade() -> None:
    op.drop_table("message_tallies")
